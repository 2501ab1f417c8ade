//! Plain-text tables for listings, aligned like kubectl's. Pure (uses the
//! output module's escaping of control characters).
//!
//! Default tables are meant to fit 80 columns (wider detail belongs to
//! `-o wide`); names are never cut, so a very long name may still overflow.

/// How a table is drawn: `-o wide` adds columns, `--no-headers` drops the
/// header row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableStyle {
    pub wide: bool,
    pub headers: bool,
}

impl Default for TableStyle {
    fn default() -> Self {
        TableStyle {
            wide: false,
            headers: true,
        }
    }
}

/// Left-aligned columns separated by three spaces, a header row first; no
/// trailing blanks. Rows shorter than the header get empty cells.
pub fn format_table(headers: &[&str], rows: &[Vec<String>]) -> String {
    format_table_styled(headers, rows, TableStyle::default())
}

/// [`format_table`] without the header row when `style.headers` is off
/// (columns are then as wide as their cells alone).
pub fn format_table_styled(headers: &[&str], rows: &[Vec<String>], style: TableStyle) -> String {
    // A cell from the cluster or a file can never break its row.
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            row.iter()
                .map(|cell| super::without_controls(cell, "").into_owned())
                .collect()
        })
        .collect();
    let rows = &rows;
    let columns = headers.len();
    let mut widths: Vec<usize> = if style.headers {
        headers.iter().map(|h| h.chars().count()).collect()
    } else {
        vec![0; columns]
    };
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let header_cells: Vec<String> = headers.iter().map(|h| h.to_string()).collect();
    let header_row = style.headers.then_some(&header_cells);
    for row in header_row.into_iter().chain(rows) {
        let mut line = String::new();
        for (i, width) in widths.iter().enumerate().take(columns) {
            let cell = row.get(i).map(String::as_str).unwrap_or("");
            line.push_str(cell);
            if i + 1 < columns {
                let pad = width.saturating_sub(cell.chars().count()) + 3;
                line.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_cell_with_control_characters_stays_on_its_row() {
        let rows = vec![vec!["evil\nname".to_string(), "\x1b[31mred".to_string()]];
        let table = format_table(&["NAME", "REF"], &rows);
        assert_eq!(table.lines().count(), 2, "{table}");
        assert!(table.contains("evil\\nname"), "{table}");
        assert!(!table.contains('\x1b'), "{table}");
    }

    use super::*;

    #[test]
    fn aligns_columns_under_headers() {
        let rows = vec![
            vec![
                "hub-1".to_string(),
                "1/1".to_string(),
                "Running".to_string(),
            ],
            vec!["jupyter-long-name".to_string(), "0/1".to_string()],
        ];
        let table = format_table(&["NAME", "READY", "STATUS"], &rows);
        assert_eq!(
            table,
            "NAME                READY   STATUS\n\
             hub-1               1/1     Running\n\
             jupyter-long-name   0/1\n"
        );
    }

    #[test]
    fn no_headers_drops_the_header_row() {
        let rows = vec![vec!["a".to_string(), "b".to_string()]];
        let style = TableStyle {
            wide: false,
            headers: false,
        };
        assert_eq!(format_table_styled(&["NAME", "X"], &rows, style), "a   b\n");
    }

    #[test]
    fn empty_table_is_just_the_header() {
        assert_eq!(format_table(&["A", "B"], &[]), "A   B\n");
    }
}
