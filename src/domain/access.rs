//! Who is calling and what their role lets them do.

use super::intake_rules::string_enum;

string_enum! {
    Role {
        Admin = "admin",
        Supervisor = "supervisor",
        Department = "department",
        Integration = "integration",
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    User { id: i64, username: String, role: Role, department_id: Option<i64> },
    ApiKey { id: i64, name: String },
    /// A citizen holding the rating link of one transaction.
    Citizen { transaction_no: String },
}

/// The caller lacks every role the call needs (`403`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("this call needs the role {needed}")]
pub struct RoleRequired {
    pub needed: String,
}

impl Principal {
    pub fn role(&self) -> Option<Role> {
        match self {
            Principal::User { role, .. } => Some(*role),
            Principal::ApiKey { .. } => Some(Role::Integration),
            Principal::Citizen { .. } => None,
        }
    }

    /// The name written to the audit log.
    pub fn actor_label(&self) -> String {
        match self {
            Principal::User { username, role, .. } => format!("{role}:{username}"),
            Principal::ApiKey { name, .. } => format!("integration:{name}"),
            Principal::Citizen { .. } => "citizen".into(),
        }
    }

    pub fn department_id(&self) -> Option<i64> {
        match self {
            Principal::User { department_id, .. } => *department_id,
            _ => None,
        }
    }

    /// Refused unless the caller has one of `roles`.
    pub fn require(&self, roles: &[Role]) -> Result<(), RoleRequired> {
        match self.role() {
            Some(r) if roles.contains(&r) => Ok(()),
            _ => Err(RoleRequired { needed: roles.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(" or ") }),
        }
    }
}
