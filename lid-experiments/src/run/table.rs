//! [`Table`]: rows of strings with a header, written as CSV ([`crate::run::RunFolder::write_table`])
//! or rendered as Markdown for reports.

use serde::Serialize;

use crate::error::{Error, Result};

/// A table of strings with a header row.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Table {
    /// Column names.
    pub headers: Vec<String>,
    /// Rows, each as long as `headers`.
    pub rows: Vec<Vec<String>>,
}

impl Table {
    /// An empty table with these columns.
    pub fn new<S: Into<String>>(headers: impl IntoIterator<Item = S>) -> Self {
        Self {
            headers: headers.into_iter().map(Into::into).collect(),
            rows: Vec::new(),
        }
    }

    /// Appends a row.
    ///
    /// # Errors
    /// [`Error::Figure`] when the row length differs from the number of columns.
    pub fn push_row<S: Into<String>>(&mut self, row: impl IntoIterator<Item = S>) -> Result<()> {
        let row: Vec<String> = row.into_iter().map(Into::into).collect();
        if row.len() != self.headers.len() {
            return Err(Error::figure(
                format!("table ({})", self.headers.join(", ")),
                format!(
                    "a row has {} cells, the table has {} columns",
                    row.len(),
                    self.headers.len()
                ),
            ));
        }
        self.rows.push(row);
        Ok(())
    }

    /// The table as CSV bytes (RFC 4180 quoting by the `csv` crate).
    ///
    /// # Errors
    /// [`Error::Format`] if the CSV writer fails (it does not on in-memory output).
    pub fn to_csv(&self) -> Result<Vec<u8>> {
        let fail = |e: csv::Error| Error::Format {
            action: "write CSV of",
            path: "table".into(),
            message: e.to_string(),
        };
        let mut writer = csv::Writer::from_writer(Vec::new());
        writer.write_record(&self.headers).map_err(fail)?;
        for row in &self.rows {
            writer.write_record(row).map_err(fail)?;
        }
        writer.into_inner().map_err(|e| Error::Format {
            action: "write CSV of",
            path: "table".into(),
            message: e.to_string(),
        })
    }

    /// The table as GitHub-flavoured Markdown (`|` in cells escaped).
    pub fn to_markdown(&self) -> String {
        let esc = |s: &String| s.replace('|', "\\|");
        let mut out = String::new();
        out.push_str(&format!(
            "| {} |\n",
            self.headers.iter().map(esc).collect::<Vec<_>>().join(" | ")
        ));
        out.push_str(&format!(
            "|{}\n",
            self.headers.iter().map(|_| "---|").collect::<String>()
        ));
        for row in &self.rows {
            out.push_str(&format!(
                "| {} |\n",
                row.iter().map(esc).collect::<Vec<_>>().join(" | ")
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_csv_and_row_checks() {
        let mut t = Table::new(["a", "b"]);
        t.push_row(["1", "x|y"]).unwrap();
        assert!(t.push_row(["only one"]).is_err());
        assert_eq!(t.to_markdown(), "| a | b |\n|---|---|\n| 1 | x\\|y |\n");
        t.push_row(["2", "with, comma"]).unwrap();
        assert_eq!(
            String::from_utf8(t.to_csv().unwrap()).unwrap(),
            "a,b\n1,x|y\n2,\"with, comma\"\n"
        );
    }
}
