//! The compiled table on disk (`zonegen compile -o FILE`, `zonegen inspect FILE`): a small header, the
//! answers as the BPF maps hold them, then the summary of the answers left to userspace. The TLD index
//! is not stored: [`compile::tld_index`] rebuilds it from the keys, as `compile` built it.

use std::io::{Read, Write};

use m_root_common::{Answer, FixedSlot, MAX_LABEL};

use crate::compile::{self, CompileError, Reason, Summary, Table};

const MAGIC: &[u8; 8] = b"MRXTBL04";

/// Table file errors.
#[derive(Debug, thiserror::Error)]
pub enum TableFileError {
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("not a table file (bad magic)")]
    Magic,
    #[error("table file truncated or corrupt: {0}")]
    Corrupt(&'static str),
}

pub fn write(table: &Table, out: &mut impl Write) -> Result<(), TableFileError> {
    out.write_all(MAGIC)?;
    out.write_all(&table.serial.to_le_bytes())?;
    out.write_all(&(std::mem::size_of::<Answer>() as u32).to_le_bytes())?;
    out.write_all(&(table.tlds.len() as u32).to_le_bytes())?;
    out.write_all(&(table.apex.len() as u32).to_le_bytes())?;
    out.write_all(&(table.fixed.len() as u32).to_le_bytes())?;
    out.write_all(&(table.nsec.len() as u32).to_le_bytes())?;
    for (key, answers) in &table.tlds {
        out.write_all(key)?;
        out.write_all(&(answers.len() as u32).to_le_bytes())?;
        for a in answers {
            out.write_all(a.as_bytes())?;
        }
    }
    for (qtype, dnssec, a) in &table.apex {
        out.write_all(&qtype.to_le_bytes())?;
        out.write_all(&[*dnssec as u8, 0])?;
        out.write_all(a.as_bytes())?;
    }
    for (slot, a) in &table.fixed {
        out.write_all(&(*slot as u32).to_le_bytes())?;
        out.write_all(a.as_bytes())?;
    }
    for a in &table.nsec {
        out.write_all(a.as_bytes())?;
    }
    let summary = &table.summary;
    out.write_all(&(summary.unusable.len() as u32).to_le_bytes())?;
    for n in summary.unusable {
        out.write_all(&(n as u32).to_le_bytes())?;
    }
    out.write_all(&(summary.first.len() as u32).to_le_bytes())?;
    for (question, e) in &summary.first {
        out.write_all(&(question.len() as u32).to_le_bytes())?;
        out.write_all(question.as_bytes())?;
        let n = match e {
            CompileError::TooManyPointers(n) | CompileError::TooManyCuts(n) => *n,
            CompileError::BadQuery => 0,
        };
        out.write_all(&(e.reason() as u32).to_le_bytes())?;
        out.write_all(&(n as u32).to_le_bytes())?;
    }
    Ok(())
}

pub fn read(input: &mut impl Read) -> Result<Table, TableFileError> {
    let mut buf = Vec::new();
    input.read_to_end(&mut buf)?;
    let mut r = Reader { b: &buf, pos: 0 };
    if r.take(8)? != MAGIC {
        return Err(TableFileError::Magic);
    }
    let serial = r.u32()?;
    let size = r.u32()? as usize;
    if size != std::mem::size_of::<Answer>() {
        return Err(TableFileError::Corrupt("entry size differs from this build's"));
    }
    let (ntld, napex, nfixed, nnsec) = (r.u32()?, r.u32()?, r.u32()?, r.u32()?);
    let mut tlds = Vec::new();
    for _ in 0..ntld {
        let mut key = [0u8; MAX_LABEL + 1];
        key.copy_from_slice(r.take(MAX_LABEL + 1)?);
        let n = r.u32()?;
        let mut answers = Vec::new();
        for _ in 0..n {
            answers.push(Box::new(r.answer()?));
        }
        tlds.push((key, answers));
    }
    let mut apex = Vec::new();
    for _ in 0..napex {
        let qtype = u16::from_le_bytes(r.take(2)?.try_into().map_err(|_| TableFileError::Corrupt("qtype"))?);
        let dnssec = r.take(2)?[0] != 0;
        apex.push((qtype, dnssec, Box::new(r.answer()?)));
    }
    let mut fixed = Vec::new();
    for _ in 0..nfixed {
        let slot = FixedSlot::from_number(r.u32()?).ok_or(TableFileError::Corrupt("unknown fixed slot"))?;
        fixed.push((slot, Box::new(r.answer()?)));
    }
    let mut nsec = Vec::new();
    for _ in 0..nnsec {
        nsec.push(Box::new(r.answer()?));
    }
    let mut summary = Summary::default();
    if r.u32()? as usize != summary.unusable.len() {
        return Err(TableFileError::Corrupt("summary reasons differ from this build's"));
    }
    for n in summary.unusable.iter_mut() {
        *n = r.u32()? as usize;
    }
    for _ in 0..r.u32()? {
        let len = r.u32()? as usize;
        let question = String::from_utf8(r.take(len)?.to_vec()).map_err(|_| TableFileError::Corrupt("summary question"))?;
        let (reason, n) = (r.u32()? as usize, r.u32()? as usize);
        let e = match Reason::ALL.get(reason) {
            Some(Reason::TooManyPointers) => CompileError::TooManyPointers(n),
            Some(Reason::TooManyCuts) => CompileError::TooManyCuts(n),
            Some(Reason::BadQuery) => CompileError::BadQuery,
            None => return Err(TableFileError::Corrupt("unknown summary reason")),
        };
        summary.first.push((question, e));
    }
    let tld_index = compile::tld_index(tlds.iter().map(|(k, _)| k));
    Ok(Table { serial, tlds, apex, fixed, nsec, tld_index, summary })
}

struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], TableFileError> {
        let s = self.b.get(self.pos..self.pos + n).ok_or(TableFileError::Corrupt("short file"))?;
        self.pos += n;
        Ok(s)
    }
    fn u32(&mut self) -> Result<u32, TableFileError> {
        let s = self.take(4)?;
        Ok(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
    }
    fn answer(&mut self) -> Result<Answer, TableFileError> {
        Answer::from_bytes(self.take(std::mem::size_of::<Answer>())?).ok_or(TableFileError::Corrupt("entry"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_reads_back_as_written_with_its_summary_and_index() {
        let mut table = compile::compile(&compile::tests::small_zone());
        table.summary.unusable = [2, 1, 0];
        table.summary.first = vec![("a. A DO=0".into(), CompileError::TooManyPointers(130)), ("b. DS DO=1".into(), CompileError::BadQuery)];
        let mut file = Vec::new();
        write(&table, &mut file).unwrap();
        let back = read(&mut file.as_slice()).unwrap();
        assert_eq!(back.serial, table.serial);
        assert_eq!((back.tlds.len(), back.apex.len(), back.fixed.len(), back.nsec.len()), (3, table.apex.len(), 3, 0));
        assert!(
            back.tlds.iter().zip(&table.tlds).all(|(a, b)| a.0 == b.0 && a.1.iter().zip(&b.1).all(|(x, y)| x.as_bytes() == y.as_bytes()))
        );
        assert_eq!(back.summary, table.summary);
        assert_eq!(back.tld_index, table.tld_index);
        assert!(matches!(read(&mut &file[..file.len() - 3]), Err(TableFileError::Corrupt(_))));
    }
}
