//! Plain-text tables for listings, aligned like kubectl's. Pure.

/// Left-aligned columns separated by three spaces, a header row first; no
/// trailing blanks. Rows shorter than the header get empty cells.
pub fn format_table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let columns = headers.len();
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let header_cells: Vec<String> = headers.iter().map(|h| h.to_string()).collect();
    for row in std::iter::once(&header_cells).chain(rows) {
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
    fn empty_table_is_just_the_header() {
        assert_eq!(format_table(&["A", "B"], &[]), "A   B\n");
    }
}
