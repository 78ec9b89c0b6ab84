//! Workbooks written by real spreadsheet libraries (see `data/SOURCES.md`), and one that would
//! unpack to far more than it weighs.

use std::io::Write;

use komek_sheets::{Format, MAX_UNPACKED_BYTES, read};

fn lines_and_cells(sheet: &komek_sheets::Sheet) -> Vec<(usize, Vec<&str>)> {
    sheet
        .rows
        .iter()
        .map(|r| (r.line, r.cells.iter().map(String::as_str).collect()))
        .collect()
}

#[test]
fn xlsx_and_xls_read_every_sheet_with_row_numbers_and_numbers_as_typed() {
    for (bytes, format, sheet) in [
        (&include_bytes!("data/roster.xlsx")[..], Format::Xlsx, 1),
        (&include_bytes!("data/roster.xls")[..], Format::Xls, 0),
    ] {
        let book = read(bytes).unwrap();
        assert_eq!(book.format, format);
        let roster = &book.sheets[sheet];
        let rows = lines_and_cells(roster);
        // Row 4 of the sheet is empty: left out, and the rows after keep their numbers.
        assert_eq!(
            rows.iter().map(|(line, _)| *line).collect::<Vec<_>>(),
            [1, 2, 3, 5, 6],
            "{format:?}"
        );
        assert_eq!(rows[0].1[0], "Группа");
        assert_eq!(
            &rows[1].1[..10],
            [
                "Шелек көмір көлігі",
                "Shelek",
                "Enbekshikazakhskiy",
                "Алматинская область",
                "43.59623",
                "78.25745",
                "80",
                "vehicle_cargo:5",
                "2",
                "kk;ru"
            ],
            "{format:?}"
        );
        assert_eq!(rows[1].1[10], "Сейітов, Бақыт");
    }
    let xlsx = read(include_bytes!("data/roster.xlsx")).unwrap();
    assert_eq!(xlsx.sheets[0].name, "Нұсқаулық");
    assert_eq!(xlsx.sheets[1].name, "Топтар");
}

#[test]
fn a_workbook_that_unpacks_past_the_limit_is_refused_before_it_is_parsed() {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    zip.start_file("xl/worksheets/sheet1.xml", options).unwrap();
    let block = vec![b' '; 1024 * 1024];
    for _ in 0..=MAX_UNPACKED_BYTES / block.len() as u64 {
        zip.write_all(&block).unwrap();
    }
    let bytes = zip.finish().unwrap().into_inner();
    assert!(bytes.len() < 1024 * 1024, "{} bytes", bytes.len());
    let refused = read(&bytes).unwrap_err();
    assert!(
        refused.message.contains("unpacks to more than"),
        "{refused:?}"
    );
}

#[test]
fn damaged_copies_of_real_workbooks_are_refused_or_read_never_a_panic() {
    for original in [
        &include_bytes!("data/roster.xlsx")[..],
        &include_bytes!("data/roster.xls")[..],
    ] {
        for cut in (0..original.len()).step_by(61) {
            let _ = read(&original[..cut]);
        }
        // One byte changed at a time, all over the file (a deterministic spread of positions
        // and values).
        for i in (0..original.len()).step_by(13) {
            let mut damaged = original.to_vec();
            damaged[i] = damaged[i].wrapping_add(1 + (i % 251) as u8);
            let _ = read(&damaged);
        }
    }
}
