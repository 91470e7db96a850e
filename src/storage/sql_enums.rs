//! The domain's enums as they are stored: their text, on both backends. Reading text that is no
//! variant fails the query instead of passing on a value nothing expects.

use diesel::deserialize::{self, FromSql};
use diesel::pg::{Pg, PgValue};
use diesel::serialize::{self, Output, ToSql};
use diesel::sql_types::Text;
use diesel::sqlite::{Sqlite, SqliteValue};

use crate::domain::case_flow::{Action, CaseState, Extension};
use crate::domain::intake_rules::{Channel, ComplaintSource, RoutedBy};
use crate::domain::sla::AlertLevel;

macro_rules! stored_as_text {
    ($($name:ident),+ $(,)?) => {$(
        impl ToSql<Text, Sqlite> for $name {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Sqlite>) -> serialize::Result {
                <str as ToSql<Text, Sqlite>>::to_sql(self.as_str(), out)
            }
        }

        impl ToSql<Text, Pg> for $name {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
                <str as ToSql<Text, Pg>>::to_sql(self.as_str(), out)
            }
        }

        impl FromSql<Text, Sqlite> for $name {
            fn from_sql(value: SqliteValue<'_, '_, '_>) -> deserialize::Result<Self> {
                let text = <String as FromSql<Text, Sqlite>>::from_sql(value)?;
                $name::parse(&text).ok_or_else(|| format!("{:?} is not a stored {}", text, stringify!($name)).into())
            }
        }

        impl FromSql<Text, Pg> for $name {
            fn from_sql(value: PgValue<'_>) -> deserialize::Result<Self> {
                let text = <String as FromSql<Text, Pg>>::from_sql(value)?;
                $name::parse(&text).ok_or_else(|| format!("{:?} is not a stored {}", text, stringify!($name)).into())
            }
        }
    )+};
}

stored_as_text!(CaseState, Extension, AlertLevel, Action, Channel, ComplaintSource, RoutedBy);
