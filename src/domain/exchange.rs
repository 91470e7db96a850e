//! The provincial / national 好差评 data exchange: how this system's records map to the field
//! set the platforms take (GB/T 39046-2020 Table 9 and the reporting interfaces' fields), every
//! code mapped explicitly both ways. Pure: the feed and the push job are in `insight::exchange`.

use crate::domain::intake_rules::Channel;

/// The setting holding the district's 区划代码 (`areaCode`).
pub const AREA_CODE_SETTING: &str = "area_code";

/// `pf`, the rating channel of the interfaces, in the variant with 7 = 系统默认评价.
/// 1 PC端, 2 移动服务端, 3 二维码, 4 政务大厅平板电脑, 5 政务大厅其他终端, 6 短信,
/// 7 系统默认评价; 8 电话 is this system's extension (that variant has no telephone code).
pub fn pf_of(channel: Channel) -> u8 {
    match channel {
        Channel::Pc => 1,
        Channel::Mobile => 2,
        Channel::Qr => 3,
        Channel::WindowDevice => 4,
        Channel::Kiosk => 5,
        Channel::Sms => 6,
        Channel::Default => 7,
        Channel::Hotline => 8,
    }
}

pub fn channel_of_pf(pf: u8) -> Option<Channel> {
    Channel::ALL.iter().copied().find(|c| pf_of(*c) == pf)
}

/// GB/T 39046's 评价渠道 name of a channel.
pub fn channel_name(channel: Channel) -> &'static str {
    match channel {
        Channel::Pc => "PC端",
        Channel::Mobile => "移动服务端",
        Channel::Qr => "二维码",
        Channel::WindowDevice => "政务大厅平板电脑",
        Channel::Kiosk => "政务大厅其他终端",
        Channel::Sms => "短信",
        Channel::Default => "系统默认评价",
        Channel::Hotline => "电话",
    }
}

/// `satisfaction` of the interfaces: 1 = 非常不满意 … 5 = 非常满意, the stars' own direction.
pub fn satisfaction_of(stars: u8) -> Option<u8> {
    (1..=5).contains(&stars).then_some(stars)
}

pub fn stars_of_satisfaction(satisfaction: u8) -> Option<u8> {
    (1..=5).contains(&satisfaction).then_some(satisfaction)
}

/// GB/T 39046 A.8 满意度代码: 1 = 非常满意 … 5 = 非常不满意, the other direction.
pub fn gbt_code_of(stars: u8) -> Option<u8> {
    (1..=5).contains(&stars).then(|| 6 - stars)
}

pub fn stars_of_gbt_code(code: u8) -> Option<u8> {
    (1..=5).contains(&code).then(|| 6 - code)
}

/// 满意度 as a word.
pub fn satisfaction_name(stars: u8) -> &'static str {
    match stars {
        5 => "非常满意",
        4 => "满意",
        3 => "基本满意",
        2 => "不满意",
        _ => "非常不满意",
    }
}

/// 是否公开 / 是否匿名: 1 是, 2 否.
pub fn yes_no(flag: bool) -> u8 {
    if flag {
        1
    } else {
        2
    }
}

pub fn flag_of(code: u8) -> Option<bool> {
    match code {
        1 => Some(true),
        2 => Some(false),
        _ => None,
    }
}

/// 审核状态: 1 无需审核, 2 已审核, 3 未审核.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditStatus {
    NotNeeded,
    Audited,
    Pending,
}

impl AuditStatus {
    pub const ALL: [AuditStatus; 3] = [AuditStatus::NotNeeded, AuditStatus::Audited, AuditStatus::Pending];

    pub fn code(self) -> u8 {
        match self {
            AuditStatus::NotNeeded => 1,
            AuditStatus::Audited => 2,
            AuditStatus::Pending => 3,
        }
    }

    pub fn of_code(code: u8) -> Option<AuditStatus> {
        AuditStatus::ALL.into_iter().find(|s| s.code() == code)
    }
}

/// 整改状态 of a rating's record (this system's codes; the interfaces carry the 整改 fields
/// without a standard code list): 0 无需整改 (not a bad review), 1 整改中, 2 已整改答复,
/// 3 申诉成立不予整改.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReformStatus {
    NotNeeded,
    InProgress,
    Answered,
    AppealUpheld,
}

impl ReformStatus {
    pub const ALL: [ReformStatus; 4] = [ReformStatus::NotNeeded, ReformStatus::InProgress, ReformStatus::Answered, ReformStatus::AppealUpheld];

    pub fn code(self) -> u8 {
        match self {
            ReformStatus::NotNeeded => 0,
            ReformStatus::InProgress => 1,
            ReformStatus::Answered => 2,
            ReformStatus::AppealUpheld => 3,
        }
    }

    pub fn of_code(code: u8) -> Option<ReformStatus> {
        ReformStatus::ALL.into_iter().find(|s| s.code() == code)
    }

    pub fn name(self) -> &'static str {
        match self {
            ReformStatus::NotNeeded => "无需整改",
            ReformStatus::InProgress => "整改中",
            ReformStatus::Answered => "已整改答复",
            ReformStatus::AppealUpheld => "申诉成立",
        }
    }
}

/// GB/T 39046's time form: `YYYYMMDDThhmmss` (Beijing time).
pub const TIME_FORMAT: &str = "%Y%m%dT%H%M%S";

/// 统一社会信用代码 (GB 32100-2015): 18 characters of `0-9A-HJ-NPQRTUWXY`, the last a check
/// character over the first 17.
pub fn check_credit_code(code: &str) -> Result<(), String> {
    const CHARS: &str = "0123456789ABCDEFGHJKLMNPQRTUWXY";
    const WEIGHTS: [u32; 17] = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28];
    let values: Option<Vec<u32>> = code.chars().map(|c| CHARS.find(c).and_then(|i| u32::try_from(i).ok())).collect();
    let Some(values) = values.filter(|v| v.len() == 18) else {
        return Err("a 统一社会信用代码 is 18 characters of 0-9 and A-Z without I, O, S, V, Z".into());
    };
    let sum: u32 = values.iter().zip(WEIGHTS).map(|(v, w)| v * w).sum();
    let check = (31 - sum % 31) % 31;
    if values[17] != check {
        return Err("the check character (the 18th) does not match: a typing error?".into());
    }
    Ok(())
}

/// 区划代码: 6 digits (县级), 9 (乡级) or 12 (统计用).
pub fn check_area_code(code: &str) -> Result<(), String> {
    if matches!(code.len(), 6 | 9 | 12) && code.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err("a 区划代码 is 6, 9 or 12 digits, e.g. 310115".into())
    }
}

/// 事项统一编码: up to 50 letters, digits and `-`.
pub fn check_task_code(code: &str) -> Result<(), String> {
    if (1..=50).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        Ok(())
    } else {
        Err("a 事项统一编码 is 1 to 50 letters, digits or -".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_maps_both_ways() {
        for channel in Channel::ALL {
            assert_eq!(channel_of_pf(pf_of(*channel)), Some(*channel), "{channel}");
        }
        let pfs: std::collections::HashSet<u8> = Channel::ALL.iter().map(|c| pf_of(*c)).collect();
        assert_eq!(pfs.len(), Channel::ALL.len(), "one pf per channel");
        assert_eq!(pf_of(Channel::Default), 7, "7 = 系统默认评价");
        assert_eq!(channel_of_pf(0), None);
        for stars in 1..=5 {
            assert_eq!(stars_of_satisfaction(satisfaction_of(stars).unwrap()), Some(stars));
            assert_eq!(stars_of_gbt_code(gbt_code_of(stars).unwrap()), Some(stars));
        }
        // The two directions: the interface's 1 is 非常不满意, GB/T 39046's 1 is 非常满意.
        assert_eq!((satisfaction_of(1), gbt_code_of(1), satisfaction_name(1)), (Some(1), Some(5), "非常不满意"));
        assert_eq!((satisfaction_of(5), gbt_code_of(5), satisfaction_name(5)), (Some(5), Some(1), "非常满意"));
        assert_eq!(satisfaction_of(6), None);
        for flag in [true, false] {
            assert_eq!(flag_of(yes_no(flag)), Some(flag));
        }
        for s in AuditStatus::ALL {
            assert_eq!(AuditStatus::of_code(s.code()), Some(s));
        }
        for s in ReformStatus::ALL {
            assert_eq!(ReformStatus::of_code(s.code()), Some(s));
        }
    }

    #[test]
    fn credit_codes_carry_their_check_character() {
        // A published example of GB 32100's check character.
        check_credit_code("91350100M000100Y43").expect("valid");
        assert!(check_credit_code("91350100M000100Y44").unwrap_err().contains("check"));
        assert!(check_credit_code("91350100M00010").is_err());
        assert!(check_credit_code("91350100I000100Y43").is_err(), "no I");
        assert!(check_area_code("310115").is_ok() && check_area_code("31011").is_err() && check_area_code("31011A").is_err());
        assert!(check_task_code("11310115MB2F8172XK-4000").is_ok() && check_task_code("a b").is_err());
    }
}
