//! SMS to citizens: messages queued in `sms_outbox` in the transaction of the change
//! ([`outbox`]) and sent through the district's HTTP SMS gateway ([`gateway`]), retried,
//! never twice for one 办件 (or complaint) and kind, and never in the quiet hours.

pub mod gateway;
pub mod outbox;

use crate::domain::intake_rules::string_enum;

string_enum! {
    /// What a message is for; each kind has its own template at the gateway.
    SmsKind {
        /// After 办结, when the business system asks for it: rate this service.
        RatingInvitation = "rating_invitation",
        /// The department's approved reply to a bad review or a complaint.
        Reply = "reply",
        /// 回访: rate how the complaint was handled.
        FollowUpInvitation = "follow_up_invitation",
    }
}

/// A mainland mobile number as gateways take it (11 digits from 1), from what an applicant
/// typed (`+86 138-1234-5678`); `None` when it is not one (a landline gets no SMS).
pub fn mobile_number(text: &str) -> Option<String> {
    let digits: String = text.chars().filter(char::is_ascii_digit).collect();
    let digits = match digits.strip_prefix("86") {
        Some(rest) if rest.len() == 11 => rest.to_owned(),
        _ => digits,
    };
    (digits.len() == 11 && digits.starts_with('1')).then_some(digits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_mobile_numbers_get_messages() {
        assert_eq!(mobile_number("+86 138-1234-5678").as_deref(), Some("13812345678"));
        assert_eq!(mobile_number("13812345678").as_deref(), Some("13812345678"));
        assert_eq!(mobile_number("021-12345678"), None);
        assert_eq!(mobile_number("1381234567"), None);
    }
}
