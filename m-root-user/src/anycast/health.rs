//! The health state machine (RFC 4786 4.4: announce while the service is healthy, with hysteresis): a
//! probe result each interval; `rise` good ones in a row bring it up, `fall` bad ones take it down; a
//! drain holds it down whatever the probes say, until undrained.

use serde::Serialize;

#[derive(Clone, Debug, Serialize)]
pub struct Health {
    rise: u32,
    fall: u32,
    /// Up by the probes (before a drain).
    up: bool,
    /// Results in a row that disagree with `up`.
    streak: u32,
    drained: bool,
    /// The last probe's finding, for `stats` and the log.
    pub last: String,
}

impl Health {
    /// Starts down: an instance announces only once it has proven itself `rise` times.
    pub fn new(rise: u32, fall: u32) -> Health {
        Health { rise: rise.max(1), fall: fall.max(1), up: false, streak: 0, drained: false, last: "not probed yet".into() }
    }

    /// Starts up: taking over from a daemon that was announcing (the next `fall` bad probes withdraw).
    pub fn new_up(rise: u32, fall: u32) -> Health {
        Health { up: true, last: "taken over announced".into(), ..Health::new(rise, fall) }
    }

    /// One probe result (`Ok`, or why not). Returns whether the announcement changed.
    pub fn observe(&mut self, result: Result<(), String>) -> bool {
        let before = self.announce();
        let ok = result.is_ok();
        self.last = match result {
            Ok(()) => "ok".into(),
            Err(e) => e,
        };
        if ok == self.up {
            self.streak = 0;
        } else {
            self.streak += 1;
            if self.streak >= if self.up { self.fall } else { self.rise } {
                self.up = ok;
                self.streak = 0;
            }
        }
        before != self.announce()
    }

    /// Forced down (`drain`) or released (`undrain`). Returns whether the announcement changed.
    pub fn set_drained(&mut self, drained: bool) -> bool {
        let before = self.announce();
        self.drained = drained;
        before != self.announce()
    }

    /// Is the service address announced?
    pub fn announce(&self) -> bool {
        self.up && !self.drained
    }

    pub fn drained(&self) -> bool {
        self.drained
    }

    pub fn state(&self) -> &'static str {
        match (self.up, self.drained) {
            (_, true) => "drained",
            (true, false) => "up",
            (false, false) => "down",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bad() -> Result<(), String> {
        Err("probe failed".into())
    }

    #[test]
    fn rise_and_fall_with_hysteresis() {
        let mut h = Health::new(2, 3);
        assert!(!h.announce(), "starts down");
        assert!(!h.observe(Ok(())), "one good result is not enough");
        assert!(h.observe(Ok(())) && h.announce(), "two bring it up");
        assert!(!h.observe(bad()) && !h.observe(bad()) && h.announce(), "two bad ones do not take it down");
        assert!(!h.observe(Ok(())), "a good one in between starts the count again");
        assert!(!h.observe(bad()) && !h.observe(bad()));
        assert!(h.observe(bad()) && !h.announce(), "three in a row do");
        assert_eq!(h.last, "probe failed");
        assert!(!h.observe(Ok(())) && !h.observe(bad()) && !h.observe(Ok(())), "flapping stays down");
        assert!(h.observe(Ok(())) && h.announce());
    }

    #[test]
    fn a_drain_holds_it_down_until_undrained() {
        let mut h = Health::new(1, 1);
        assert!(h.observe(Ok(())) && h.announce());
        assert!(h.set_drained(true) && !h.announce() && h.state() == "drained");
        assert!(!h.observe(Ok(())) && !h.announce(), "probes do not undo a drain");
        assert!(h.set_drained(false) && h.announce());
        // Undrained while the probes say down: stays down.
        assert!(h.set_drained(true) && !h.observe(bad()));
        assert!(!h.set_drained(false) && !h.announce());
        assert_eq!(h.state(), "down");
    }

    #[test]
    fn an_expired_zone_is_a_failed_probe() {
        // The daemon feeds expiry in as a probe failure: with fall 2 the second one withdraws.
        let mut h = Health::new(1, 2);
        h.observe(Ok(()));
        assert!(!h.observe(Err("zone expired".into())));
        assert!(h.observe(Err("zone expired".into())) && !h.announce());
        assert_eq!(h.last, "zone expired");
    }
}
