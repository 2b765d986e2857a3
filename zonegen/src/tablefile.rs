//! The compiled table on disk (`zonegen compile -o FILE`, `zonegen inspect FILE`): a small header, then
//! the entries as the BPF maps hold them.

use std::io::{Read, Write};

use m_root_common::{Answer, FixedSlot, MAX_LABEL};

use crate::compile::Table;

const MAGIC: &[u8; 8] = b"MRXTBL02";

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
        let slot = match r.u32()? {
            0 => FixedSlot::NxdomainDo0,
            1 => FixedSlot::NxdomainDo1,
            2 => FixedSlot::ApexNodataDo0,
            3 => FixedSlot::ApexNodataDo1,
            _ => return Err(TableFileError::Corrupt("unknown fixed slot")),
        };
        fixed.push((slot, Box::new(r.answer()?)));
    }
    let mut nsec = Vec::new();
    for _ in 0..nnsec {
        nsec.push(Box::new(r.answer()?));
    }
    Ok(Table { serial, tlds, apex, fixed, nsec })
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
