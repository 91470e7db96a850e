//! Bulk import (SPEC §6 `import`): what a file's columns mean, how its values read, and the
//! report an import gives back. Columns are the API's JSON field names, and the Chinese
//! headers an office's own export carries are accepted as aliases.

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Asia::Shanghai;
use serde::Serialize;

use super::intake_rules::Channel;

/// Rows listed in a report at most; the rest are counted. A file of garbage must not make a
/// report as large as itself.
pub const MAX_LISTED_ERRORS: usize = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ImportKind {
    Departments,
    ServiceItems,
    Windows,
    Staff,
    Assignments,
    Transactions,
}

impl ImportKind {
    pub const ALL: [ImportKind; 6] =
        [ImportKind::Departments, ImportKind::ServiceItems, ImportKind::Windows, ImportKind::Staff, ImportKind::Assignments, ImportKind::Transactions];

    pub fn as_str(self) -> &'static str {
        match self {
            ImportKind::Departments => "departments",
            ImportKind::ServiceItems => "service-items",
            ImportKind::Windows => "windows",
            ImportKind::Staff => "staff",
            ImportKind::Assignments => "assignments",
            ImportKind::Transactions => "transactions",
        }
    }

    pub fn parse(text: &str) -> Option<ImportKind> {
        ImportKind::ALL.into_iter().find(|k| k.as_str() == text)
    }

    /// The columns of this kind: `(field, required, Chinese aliases)`.
    pub fn columns(self) -> &'static [(&'static str, bool, &'static [&'static str])] {
        match self {
            ImportKind::Departments => &[
                ("code", true, &["部门编码", "部门代码", "编码"]),
                ("name", true, &["部门名称", "名称"]),
                ("parent_code", false, &["上级部门编码", "上级部门"]),
                ("email", false, &["邮箱", "通知邮箱", "电子邮箱"]),
                ("active", false, &["是否启用", "启用"]),
                ("credit_code", false, &["统一社会信用代码", "信用代码"]),
            ],
            ImportKind::ServiceItems => &[
                ("code", true, &["事项编码", "事项代码", "编码"]),
                ("name", true, &["事项名称", "名称"]),
                ("department_code", true, &["部门编码", "实施部门编码"]),
                ("active", false, &["是否启用", "启用"]),
                ("task_code", false, &["事项统一编码", "统一编码"]),
            ],
            ImportKind::Windows => &[
                ("code", true, &["窗口编号", "窗口编码", "编号"]),
                ("name", true, &["窗口名称", "名称"]),
                ("hall", true, &["所在大厅", "大厅", "服务大厅"]),
                ("active", false, &["是否启用", "启用"]),
            ],
            ImportKind::Staff => &[
                ("staff_no", true, &["工号", "人员编号"]),
                ("name", true, &["姓名"]),
                ("department_code", true, &["部门编码"]),
                ("active", false, &["是否启用", "在岗"]),
            ],
            ImportKind::Assignments => &[
                ("window_code", true, &["窗口编号", "窗口编码"]),
                ("staff_no", true, &["工号", "人员编号"]),
                ("service_item_codes", true, &["事项编码", "办理事项"]),
                ("effective_from", true, &["生效日期", "生效时间"]),
                ("effective_to", false, &["失效日期", "失效时间"]),
            ],
            ImportKind::Transactions => &[
                ("transaction_no", true, &["办件编号", "办件流水号", "受理编号"]),
                ("service_item_code", true, &["事项编码", "事项代码"]),
                ("window_code", false, &["窗口编号", "窗口编码"]),
                ("staff_no", false, &["工号", "人员编号"]),
                ("channel", false, &["办理渠道", "渠道"]),
                ("applicant_name", false, &["申请人", "申请人姓名", "办事人"]),
                ("applicant_phone", false, &["联系电话", "手机号码", "申请人电话"]),
                ("applicant_email", false, &["邮箱", "电子邮箱"]),
                ("accepted_at", false, &["受理时间"]),
                ("completed_at", true, &["办结时间", "办结日期"]),
            ],
        }
    }
}

/// One refused row: its line in the file (the header is line 1), the column as the file
/// names it, and why, in Chinese.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct RowError {
    pub line: u64,
    pub column: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ImportReport {
    pub kind: ImportKind,
    pub dry_run: bool,
    /// Data rows read (the header and blank lines not counted).
    pub rows: u64,
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    /// Whether anything was stored: never on a dry run or when a row is refused.
    pub written: bool,
    pub errors: Vec<RowError>,
    /// Refused rows beyond the first [`MAX_LISTED_ERRORS`].
    pub errors_not_listed: u64,
}

impl ImportReport {
    pub fn new(kind: ImportKind, dry_run: bool) -> ImportReport {
        ImportReport { kind, dry_run, rows: 0, created: 0, updated: 0, unchanged: 0, written: false, errors: vec![], errors_not_listed: 0 }
    }

    pub fn refuse(&mut self, line: u64, column: &str, reason: impl Into<String>) {
        if self.errors.len() < MAX_LISTED_ERRORS {
            self.errors.push(RowError { line, column: column.to_owned(), reason: reason.into() });
        } else {
            self.errors_not_listed += 1;
        }
    }

    pub fn has_errors(&self) -> bool {
        !self.errors.is_empty()
    }

    /// The summary line, in Chinese.
    pub fn summary(&self) -> String {
        let what = format!("导入 {}：共 {} 行，新增 {}，更新 {}，未变 {}", self.kind.as_str(), self.rows, self.created, self.updated, self.unchanged);
        if self.has_errors() {
            format!("{what}。发现 {} 行有误，未写入任何数据。", self.errors.len() as u64 + self.errors_not_listed)
        } else if self.dry_run {
            format!("{what}。试运行（--dry-run），未写入。")
        } else if self.created + self.updated == 0 {
            format!("{what}。与已有数据完全一致，没有改动。")
        } else {
            format!("{what}。已写入。")
        }
    }
}

/// Where each field sits in a file's header, matched by field name or alias (trimmed,
/// case-insensitive for the field names); the unknown headers are reported.
#[derive(Debug, Clone)]
pub struct ColumnMap {
    kind: ImportKind,
    /// Per column of [`ImportKind::columns`]: its index in the row and the header as written.
    found: Vec<Option<(usize, String)>>,
}

impl ColumnMap {
    /// Reads the header; a missing required column or an unknown one is an error on line 1.
    pub fn from_header(kind: ImportKind, header: &[String]) -> Result<ColumnMap, Vec<RowError>> {
        let columns = kind.columns();
        let mut found: Vec<Option<(usize, String)>> = vec![None; columns.len()];
        let mut errors = Vec::new();
        for (index, raw) in header.iter().enumerate() {
            let name = raw.trim().trim_start_matches('\u{feff}');
            if name.is_empty() {
                continue;
            }
            let slot = columns.iter().position(|(field, _, aliases)| field.eq_ignore_ascii_case(name) || aliases.contains(&name));
            match slot {
                Some(k) if found[k].is_some() => errors.push(RowError { line: 1, column: name.to_owned(), reason: format!("列重复：{name}") }),
                Some(k) => found[k] = Some((index, name.to_owned())),
                None => errors.push(RowError {
                    line: 1,
                    column: name.to_owned(),
                    reason: format!("无法识别的列“{name}”；可用的列：{}", columns.iter().map(|c| c.0).collect::<Vec<_>>().join("、")),
                }),
            }
        }
        for ((field, required, aliases), slot) in columns.iter().zip(&found) {
            if *required && slot.is_none() {
                errors.push(RowError { line: 1, column: (*field).to_owned(), reason: format!("缺少必填列 {field}（或 {}）", aliases.join("、")) });
            }
        }
        if errors.is_empty() {
            Ok(ColumnMap { kind, found })
        } else {
            Err(errors)
        }
    }

    /// The trimmed value of `field` in `row`; `None` when the column is absent or the cell blank.
    pub fn get<'r>(&self, row: &'r [String], field: &str) -> Option<&'r str> {
        let k = self.kind.columns().iter().position(|(f, _, _)| *f == field)?;
        let (index, _) = self.found[k].as_ref()?;
        row.get(*index).map(|v| v.trim()).filter(|v| !v.is_empty())
    }

    /// The column's header as the file wrote it (for reports), or the field name.
    pub fn header<'s>(&'s self, field: &'s str) -> &'s str {
        self.kind
            .columns()
            .iter()
            .position(|(f, _, _)| *f == field)
            .and_then(|k| self.found[k].as_ref())
            .map(|(_, h)| h.as_str())
            .unwrap_or(field)
    }
}

/// A time as offices write it: RFC 3339, or Beijing local `YYYY-MM-DD HH:MM[:SS]`
/// (also with `/` or `T`), or a bare date (its 00:00 in Beijing).
pub fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&Utc));
    }
    let normal = text.replace('/', "-").replace('T', " ");
    let local = ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%d %H:%M"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(&normal, f).ok())
        .or_else(|| NaiveDate::parse_from_str(&normal, "%Y-%m-%d").ok().map(|d| d.and_time(NaiveTime::MIN)))?;
    Shanghai.from_local_datetime(&local).single().map(|t| t.with_timezone(&Utc))
}

/// 是/否 as offices write it, and true/false, 1/0.
pub fn parse_bool(text: &str) -> Option<bool> {
    match text.to_lowercase().as_str() {
        "true" | "1" | "是" | "启用" | "在岗" | "yes" | "y" => Some(true),
        "false" | "0" | "否" | "停用" | "离岗" | "no" | "n" => Some(false),
        _ => None,
    }
}

/// A channel by its API name or its Chinese label.
pub fn parse_channel(text: &str) -> Option<Channel> {
    Channel::parse(text).or(match text {
        "PC端" | "网上办理" | "网办" | "电脑" => Some(Channel::Pc),
        "移动端" | "手机" | "APP" | "小程序" => Some(Channel::Mobile),
        "二维码" => Some(Channel::Qr),
        "自助终端" => Some(Channel::Kiosk),
        "窗口" | "窗口评价器" | "大厅窗口" => Some(Channel::WindowDevice),
        "热线" | "电话" => Some(Channel::Hotline),
        "短信" => Some(Channel::Sms),
        _ => None,
    })
}

/// Service item codes in one cell, separated as people do: `;` `,` `、` `|` or spaces.
pub fn split_codes(text: &str) -> Vec<String> {
    text.split([';', ',', '、', '|', '；', '，', ' ']).map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(cols: &[&str]) -> Vec<String> {
        cols.iter().map(|c| (*c).to_owned()).collect()
    }

    #[test]
    fn chinese_headers_are_aliases_and_unknown_or_missing_columns_are_named() {
        let map = ColumnMap::from_header(ImportKind::Transactions, &header(&["\u{feff}办件编号", "事项编码", "办结时间", "窗口编号"])).expect("header");
        let row = header(&["B-1", " I1 ", "2026-11-20 10:00", ""]);
        assert_eq!((map.get(&row, "transaction_no"), map.get(&row, "service_item_code"), map.get(&row, "window_code")), (Some("B-1"), Some("I1"), None));
        assert_eq!(map.header("completed_at"), "办结时间");
        let errors = ColumnMap::from_header(ImportKind::Transactions, &header(&["transaction_no", "备注"])).expect_err("bad header");
        assert!(errors.iter().any(|e| e.column == "备注" && e.reason.contains("无法识别")));
        assert!(errors.iter().any(|e| e.column == "service_item_code" && e.reason.contains("缺少必填列")));
        assert!(errors.iter().any(|e| e.column == "completed_at"));
    }

    #[test]
    fn times_read_as_offices_write_them_in_beijing_time() {
        let utc = |s: &str| DateTime::parse_from_rfc3339(s).expect("time").with_timezone(&Utc);
        assert_eq!(parse_time("2026-11-20 10:00:00"), Some(utc("2026-11-20T02:00:00Z")));
        assert_eq!(parse_time("2026/11/20 10:00"), Some(utc("2026-11-20T02:00:00Z")));
        assert_eq!(parse_time("2026-11-20T10:00:00+08:00"), Some(utc("2026-11-20T02:00:00Z")));
        assert_eq!(parse_time("2026-11-20"), Some(utc("2026-11-19T16:00:00Z")));
        assert_eq!(parse_time("2026-13-01"), None);
        assert_eq!(parse_time("昨天"), None);
        assert_eq!((parse_bool("否"), parse_bool("TRUE"), parse_bool("也许")), (Some(false), Some(true), None));
        assert_eq!(parse_channel("窗口"), Some(Channel::WindowDevice));
        assert_eq!(split_codes("I1；I2、 I3"), vec!["I1", "I2", "I3"]);
    }
}
