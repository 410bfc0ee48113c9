//! CSV cells made safe to open in a spreadsheet (CSV injection).
//!
//! A spreadsheet reads a cell that starts with `=`, `+`, `-` or `@` as a
//! formula, and one that starts with a tab or carriage return may be
//! trimmed into one: an Event message or object name chosen by an attacker
//! (`=HYPERLINK(…)`, `@SUM(1+1)*cmd|…`) would run when a responder opens
//! the export. As OWASP's CSV injection guidance recommends, such a text
//! cell gets a leading single quote, which spreadsheets show as text.
//! Numbers are not text and keep their sign; JSON outputs keep the exact
//! text.

/// The characters that make a spreadsheet read a cell as a formula.
const FORMULA_START: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// `text` as a CSV text cell: with a leading `'` if it starts like a formula.
pub fn csv_text_cell(text: String) -> String {
    if text.starts_with(FORMULA_START) {
        format!("'{text}")
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::csv_text_cell;

    #[test]
    fn formula_starts_get_a_quote_and_other_text_is_kept() {
        for s in [
            "=1+1",
            "+1",
            "-2",
            "@SUM(1+1)*cmd|' /C calc'!A0",
            "\tx",
            "\rx",
        ] {
            assert_eq!(csv_text_cell(s.to_string()), format!("'{s}"));
        }
        for s in ["", "web-1", "a=b", "'quoted", " =x", "Warning"] {
            assert_eq!(csv_text_cell(s.to_string()), s);
        }
    }
}
