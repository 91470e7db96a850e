//! Reading a table an office exported — CSV (UTF-8, with or without BOM, or GB18030/GBK as
//! Chinese Excel saves it) or XLSX (the first sheet) — one row at a time, so a file of a
//! million rows never sits in memory.

use std::io::{BufRead, BufReader, Cursor, Read, Seek};

use calamine::{DataRef, Reader, Xlsx};

use crate::error::{AppError, AppResult};

/// Where the table comes from: a file (the CLI) or a request body (the API).
pub enum TableSource {
    File(std::fs::File),
    Bytes(Vec<u8>),
}

/// Calls `on_row(line, cells)` for the header (line 1) and then every non-blank row, in order;
/// stops at the first error `on_row` returns.
pub fn for_each_row(source: TableSource, on_row: &mut dyn FnMut(u64, &[String]) -> AppResult<()>) -> AppResult<()> {
    match source {
        TableSource::File(file) => {
            let mut reader = BufReader::with_capacity(1 << 16, file);
            if is_zip(reader.fill_buf().map_err(unreadable)?) {
                let mut file = reader.into_inner();
                file.rewind().map_err(unreadable)?;
                xlsx_rows(BufReader::new(file), on_row)
            } else {
                csv_rows(reader, on_row)
            }
        }
        TableSource::Bytes(bytes) if is_zip(&bytes) => xlsx_rows(Cursor::new(bytes), on_row),
        TableSource::Bytes(bytes) => csv_rows(Cursor::new(bytes), on_row),
    }
}

fn is_zip(head: &[u8]) -> bool {
    head.starts_with(b"PK\x03\x04")
}

fn unreadable(e: impl std::fmt::Display) -> AppError {
    AppError::invalid("file", format!("无法读取文件：{e}"))
}

/// CSV: UTF-8 when it is (a BOM is dropped), GB18030 (a superset of GBK) otherwise.
fn csv_rows(mut input: impl BufRead, on_row: &mut dyn FnMut(u64, &[String]) -> AppResult<()>) -> AppResult<()> {
    // Sniff the start: a valid UTF-8 prefix (ignoring a character cut at the end) means UTF-8.
    let head = input.fill_buf().map_err(unreadable)?;
    let utf8 = match std::str::from_utf8(head) {
        Ok(_) => true,
        Err(e) => e.error_len().is_none() && e.valid_up_to() > 0,
    };
    let decoded: Box<dyn Read> = if utf8 {
        Box::new(encoding_rs_io::DecodeReaderBytesBuilder::new().encoding(Some(encoding_rs::UTF_8)).bom_override(true).build(input))
    } else {
        Box::new(encoding_rs_io::DecodeReaderBytesBuilder::new().encoding(Some(encoding_rs::GB18030)).build(input))
    };
    let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(decoded);
    let mut record = csv::StringRecord::new();
    let mut cells: Vec<String> = Vec::new();
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => return Ok(()),
            Ok(true) => {}
            Err(e) => return Err(unreadable(e)),
        }
        let line = record.position().map(|p| p.line()).unwrap_or(0);
        if record.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        cells.clear();
        cells.extend(record.iter().map(str::to_owned));
        on_row(line, &cells)?;
    }
}

/// XLSX: the first sheet's cells in order, gathered row by row.
fn xlsx_rows<R: Read + Seek>(input: R, on_row: &mut dyn FnMut(u64, &[String]) -> AppResult<()>) -> AppResult<()> {
    let mut workbook: Xlsx<R> = Xlsx::new(input).map_err(unreadable)?;
    let sheet = workbook.sheet_names().first().cloned().ok_or_else(|| unreadable("没有工作表"))?;
    let mut cells = workbook.worksheet_cells_reader(&sheet).map_err(unreadable)?;
    let mut row: Vec<String> = Vec::new();
    let mut current: Option<u32> = None;
    let mut flush = |index: u32, row: &mut Vec<String>| -> AppResult<()> {
        if row.iter().any(|c| !c.trim().is_empty()) {
            on_row(u64::from(index) + 1, row)?;
        }
        row.clear();
        Ok(())
    };
    while let Some(cell) = cells.next_cell().map_err(unreadable)? {
        let (r, c) = cell.get_position();
        if current != Some(r) {
            if let Some(previous) = current {
                flush(previous, &mut row)?;
            }
            current = Some(r);
        }
        let c = c as usize;
        if row.len() <= c {
            row.resize(c + 1, String::new());
        }
        row[c] = cell_text(cell.get_value());
    }
    if let Some(last) = current {
        flush(last, &mut row)?;
    }
    Ok(())
}

/// A cell as text; a date cell as `YYYY-MM-DD HH:MM:SS` (Excel keeps local time).
fn cell_text(value: &DataRef<'_>) -> String {
    match value {
        DataRef::String(s) | DataRef::DateTimeIso(s) | DataRef::DurationIso(s) => s.clone(),
        DataRef::SharedString(s) => (*s).to_owned(),
        DataRef::Int(i) => i.to_string(),
        // A code typed as a number (12345) is read back without ".0".
        DataRef::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", *f as i64),
        DataRef::Float(f) => f.to_string(),
        DataRef::Bool(b) => b.to_string(),
        DataRef::DateTime(t) => t.as_datetime().map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string()).unwrap_or_default(),
        DataRef::Error(_) | DataRef::Empty => String::new(),
    }
}
