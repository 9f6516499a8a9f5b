//! Which database a connection URL names.

/// The databases Qicoo can keep its events or read model in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatabaseKind {
    /// `postgres://…` or `postgresql://…`
    Postgres,
    /// `mysql://…` or `mariadb://…` (MySQL or MariaDB)
    MySql,
    /// `sqlite:…` (a file, created if missing)
    Sqlite,
}

impl DatabaseKind {
    /// The kind of database `url` names, or `None` for any other scheme.
    pub fn of_url(url: &str) -> Option<Self> {
        let scheme = url.split_once(':')?.0.to_ascii_lowercase();
        match scheme.as_str() {
            "postgres" | "postgresql" => Some(Self::Postgres),
            "mysql" | "mariadb" => Some(Self::MySql),
            "sqlite" => Some(Self::Sqlite),
            _ => None,
        }
    }

    /// How URLs of this kind start, for error messages.
    pub fn schemes(self) -> &'static str {
        match self {
            Self::Postgres => "postgres:// or postgresql://",
            Self::MySql => "mysql:// or mariadb://",
            Self::Sqlite => "sqlite:",
        }
    }
}

/// `url` with any `user:password@` replaced, for logs and `Debug` output.
pub fn redacted(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            format!("{}://***{}", &url[..scheme_end], &url[at..])
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_scheme_qicoo_accepts_is_recognised() {
        let cases = [
            ("postgres://u@h/db", Some(DatabaseKind::Postgres)),
            ("postgresql://u@h/db", Some(DatabaseKind::Postgres)),
            ("mysql://root@h/db", Some(DatabaseKind::MySql)),
            ("mariadb://root@h/db", Some(DatabaseKind::MySql)),
            ("sqlite://qicoo.db", Some(DatabaseKind::Sqlite)),
            ("sqlite:qicoo.db", Some(DatabaseKind::Sqlite)),
            ("SQLITE://Qicoo.db", Some(DatabaseKind::Sqlite)),
        ];
        for (url, kind) in cases {
            assert_eq!(DatabaseKind::of_url(url), kind, "{url}");
        }
    }

    #[test]
    fn other_schemes_and_bare_paths_are_not_databases() {
        for url in ["redis://h", "http://h", "qicoo.db", "", "postgres"] {
            assert_eq!(DatabaseKind::of_url(url), None, "{url}");
        }
    }

    #[test]
    fn credentials_are_hidden_but_the_host_is_kept() {
        assert_eq!(
            redacted("postgres://user:secret@db:5432/qicoo"),
            "postgres://***@db:5432/qicoo"
        );
        assert_eq!(redacted("sqlite://qicoo.db"), "sqlite://qicoo.db");
    }
}
