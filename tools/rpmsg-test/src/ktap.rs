//! KTAP v1 output (Documentation/dev-tools/ktap.rst).

use std::io::{self, Write};

pub struct Ktap<W: Write> {
    out: W,
    next: usize,
    passed: usize,
    failed: usize,
    skipped: usize,
}

/// Test names may not contain `#` (it starts a directive) or whitespace.
pub fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c == '#' || c.is_whitespace() {
                '_'
            } else {
                c
            }
        })
        .collect()
}

impl<W: Write> Ktap<W> {
    /// Writes the version line and the plan for `total` tests.
    pub fn new(mut out: W, total: usize) -> io::Result<Self> {
        writeln!(out, "KTAP version 1")?;
        writeln!(out, "1..{total}")?;
        out.flush()?;
        Ok(Self {
            out,
            next: 1,
            passed: 0,
            failed: 0,
            skipped: 0,
        })
    }

    /// Writes diagnostic lines, one `# ` line per line of `text`.
    pub fn diag(&mut self, text: &str) -> io::Result<()> {
        for line in text.lines() {
            writeln!(self.out, "# {line}")?;
        }
        self.out.flush()
    }

    /// Writes the next test's result line.
    pub fn result(&mut self, name: &str, ok: bool) -> io::Result<()> {
        let status = if ok { "ok" } else { "not ok" };
        writeln!(self.out, "{status} {} {}", self.next, sanitize(name))?;
        self.next += 1;
        if ok {
            self.passed += 1;
        } else {
            self.failed += 1;
        }
        self.out.flush()
    }

    /// Writes the next test's result line for a test that did not apply:
    /// `ok` with a SKIP directive (`reason` on one line).
    pub fn skip(&mut self, name: &str, reason: &str) -> io::Result<()> {
        let reason: String = reason
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        writeln!(
            self.out,
            "ok {} {} # SKIP {reason}",
            self.next,
            sanitize(name)
        )?;
        self.next += 1;
        self.skipped += 1;
        self.out.flush()
    }

    /// Writes the kselftest-style totals line; returns whether all passed.
    pub fn finish(mut self) -> io::Result<bool> {
        writeln!(
            self.out,
            "# Totals: pass:{} fail:{} skip:{}",
            self.passed, self.failed, self.skipped
        )?;
        self.out.flush()?;
        Ok(self.failed == 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output() {
        let mut buf = Vec::new();
        let mut k = Ktap::new(&mut buf, 3).unwrap();
        k.result("first", true).unwrap();
        k.diag("reason one\nreason two").unwrap();
        k.result("second case", false).unwrap();
        k.result("third#x", true).unwrap();
        assert!(!k.finish().unwrap());
        assert_eq!(
            String::from_utf8(buf).unwrap(),
            "KTAP version 1\n1..3\nok 1 first\n# reason one\n# reason two\n\
not ok 2 second_case\nok 3 third_x\n# Totals: pass:2 fail:1 skip:0\n"
        );
    }

    #[test]
    fn skipped() {
        let mut buf = Vec::new();
        let mut k = Ktap::new(&mut buf, 1).unwrap();
        k.skip("a", "no such\nthing").unwrap();
        assert!(k.finish().unwrap());
        assert_eq!(
            String::from_utf8(buf).unwrap(),
            "KTAP version 1\n1..1\nok 1 a # SKIP no such thing\n# Totals: pass:0 fail:0 skip:1\n"
        );
    }

    #[test]
    fn all_pass() {
        let mut buf = Vec::new();
        let mut k = Ktap::new(&mut buf, 1).unwrap();
        k.result("a", true).unwrap();
        assert!(k.finish().unwrap());
        let mut buf = Vec::new();
        assert!(Ktap::new(&mut buf, 0).unwrap().finish().unwrap());
        assert_eq!(
            String::from_utf8(buf).unwrap(),
            "KTAP version 1\n1..0\n# Totals: pass:0 fail:0 skip:0\n"
        );
    }
}
