//! Output: what a command prints (one JSON object or text), the column-aligning table printer and
//! RFC 3339 rendering of timestamps.

use std::io::{self, Write};

use prost_types::Timestamp;
use roster::pb::Meta;
use serde_json::{Value, json};

/// What a command prints: `json` with `--json`, `text` otherwise; `notes` go to stderr either way.
pub struct Report {
    json: Value,
    text: String,
    notes: Vec<String>,
}

impl Report {
    /// A report without notes.
    pub fn new(json: Value, text: String) -> Self {
        Self {
            json,
            text,
            notes: Vec::new(),
        }
    }

    /// Adds a line for stderr (`note: ...`).
    pub fn with_note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }

    /// The JSON object.
    #[cfg(test)]
    pub fn json(&self) -> &Value {
        &self.json
    }

    /// Writes the JSON object or the text to stdout, then the notes to stderr.
    pub fn print(&self, as_json: bool) -> io::Result<()> {
        let mut stdout = io::stdout().lock();
        // A null object means the command already printed its output (`audit tail`).
        if !as_json {
            write!(stdout, "{}", self.text)?;
        } else if !self.json.is_null() {
            serde_json::to_writer_pretty(&mut stdout, &self.json)?;
            writeln!(stdout)?;
        }
        stdout.flush()?;
        for note in &self.notes {
            eprintln!("note: {note}");
        }
        Ok(())
    }
}

/// Renders rows as columns padded to their widest cell, separated by two spaces, under `header`
/// (no header row when it is empty). The last column is not padded, so no line ends in spaces.
pub fn render_table(header: &[&str], rows: &[Vec<String>]) -> String {
    let header: Vec<String> = header.iter().map(|cell| (*cell).to_owned()).collect();
    let all_rows = std::iter::once(&header)
        .filter(|row| !row.is_empty())
        .chain(rows);
    let mut widths: Vec<usize> = Vec::new();
    for row in all_rows.clone() {
        for (column, cell) in row.iter().enumerate() {
            let width = cell.chars().count();
            match widths.get_mut(column) {
                Some(max) => *max = (*max).max(width),
                None => widths.push(width),
            }
        }
    }
    let mut out = String::new();
    for row in all_rows {
        let mut line = String::new();
        for (column, cell) in row.iter().enumerate() {
            if column > 0 {
                line.push_str("  ");
            }
            line.push_str(cell);
            let padding = widths[column] - cell.chars().count();
            line.extend(std::iter::repeat_n(' ', padding));
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// Renders `label value` pairs, one a line, with the values aligned.
pub fn render_fields(fields: &[(&str, String)]) -> String {
    let rows: Vec<Vec<String>> = fields
        .iter()
        .map(|(label, value)| vec![(*label).to_owned(), value.clone()])
        .collect();
    render_table(&[], &rows)
}

/// `shown` results starting at the 1-based `start_index`, of `total`: "showing 1-20 of 57 users".
pub fn page_footer(start_index: i64, shown: usize, total: i64, noun: &str) -> String {
    let shown = i64::try_from(shown).unwrap_or(i64::MAX);
    if shown == 0 {
        return format!("showing 0 of {total} {noun}\n");
    }
    let first = start_index.max(1);
    format!("showing {first}-{} of {total} {noun}\n", first + shown - 1)
}

/// An optional value for a table cell: the value, or `-`.
pub fn or_dash(value: Option<&str>) -> String {
    value
        .filter(|value| !value.is_empty())
        .unwrap_or("-")
        .to_owned()
}

/// A timestamp as UTC RFC 3339 to the second, `YYYY-MM-DDTHH:MM:SSZ`.
pub fn format_timestamp(timestamp: &Timestamp) -> String {
    let days = timestamp.seconds.div_euclid(86_400);
    let second_of_day = timestamp.seconds.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        second_of_day / 3600,
        second_of_day % 3600 / 60,
        second_of_day % 60
    )
}

/// An optional timestamp for a table cell: RFC 3339, or `-`.
pub fn timestamp_text(timestamp: Option<&Timestamp>) -> String {
    timestamp.map_or_else(|| "-".to_owned(), format_timestamp)
}

/// An optional timestamp for JSON: an RFC 3339 string, or null.
pub fn timestamp_json(timestamp: Option<&Timestamp>) -> Value {
    timestamp.map_or(Value::Null, |timestamp| format_timestamp(timestamp).into())
}

/// Resource metadata for JSON: `{"created", "lastModified", "version"}`, or null.
pub fn meta_json(meta: Option<&Meta>) -> Value {
    meta.map_or(Value::Null, |meta| {
        json!({
            "created": timestamp_json(meta.created.as_ref()),
            "lastModified": timestamp_json(meta.last_modified.as_ref()),
            "version": meta.version,
        })
    })
}

/// Resource metadata as `label value` pairs.
pub fn meta_fields(meta: Option<&Meta>) -> [(&'static str, String); 3] {
    let meta = meta.copied().unwrap_or_default();
    [
        ("created", timestamp_text(meta.created.as_ref())),
        ("last modified", timestamp_text(meta.last_modified.as_ref())),
        ("version", meta.version.to_string()),
    ]
}

/// The (year, month, day) of a count of days since 1970-01-01 in the proleptic Gregorian calendar
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let days = days + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153; // March is 0
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> String {
        format_timestamp(&Timestamp { seconds, nanos: 0 })
    }

    #[test]
    fn formats_timestamps_as_rfc3339() {
        assert_eq!(at(0), "1970-01-01T00:00:00Z");
        assert_eq!(at(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(at(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(at(1_709_251_199), "2024-02-29T23:59:59Z");
        assert_eq!(at(253_402_300_799), "9999-12-31T23:59:59Z");
        assert_eq!(at(-1), "1969-12-31T23:59:59Z");
        assert_eq!(at(-62_135_596_800), "0001-01-01T00:00:00Z");
    }

    #[test]
    fn ignores_nanos() {
        let timestamp = Timestamp {
            seconds: 86_400,
            nanos: 999_999_999,
        };
        assert_eq!(format_timestamp(&timestamp), "1970-01-02T00:00:00Z");
    }

    #[test]
    fn missing_timestamps_render_as_dash_and_null() {
        assert_eq!(timestamp_text(None), "-");
        assert_eq!(timestamp_json(None), Value::Null);
    }

    #[test]
    fn table_pads_columns_to_widest_cell() {
        let rows = vec![
            vec!["1".to_owned(), "alice".to_owned(), "x".to_owned()],
            vec!["22".to_owned(), "bo".to_owned(), "".to_owned()],
        ];
        let table = render_table(&["ID", "NAME", "NOTE"], &rows);
        assert_eq!(table, "ID  NAME   NOTE\n1   alice  x\n22  bo\n");
    }

    #[test]
    fn table_counts_characters_not_bytes() {
        let rows = vec![
            vec!["Zoë".to_owned(), "1".to_owned()],
            vec!["Al".to_owned(), "2".to_owned()],
        ];
        assert_eq!(render_table(&[], &rows), "Zoë  1\nAl   2\n");
    }

    #[test]
    fn empty_table_prints_only_the_header() {
        assert_eq!(render_table(&["ID", "NAME"], &[]), "ID  NAME\n");
    }

    #[test]
    fn fields_align_values() {
        let fields = [("id", "7".to_owned()), ("display name", "Acme".to_owned())];
        assert_eq!(
            render_fields(&fields),
            "id            7\ndisplay name  Acme\n"
        );
    }

    #[test]
    fn footer_describes_the_page() {
        assert_eq!(page_footer(1, 2, 5, "users"), "showing 1-2 of 5 users\n");
        assert_eq!(page_footer(0, 1, 1, "users"), "showing 1-1 of 1 users\n");
        assert_eq!(page_footer(3, 0, 2, "groups"), "showing 0 of 2 groups\n");
    }
}
