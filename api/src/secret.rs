//! The server secret that signs participant tokens. Tokens must survive restarts,
//! so the embedded default keeps a generated secret beside its database file.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use rand::RngCore;
use secrecy::{ExposeSecret, SecretSlice, SecretString};

use crate::config::sqlite_path;

/// Why no secret could be had.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("QICOO_SECRET must be set when the event store is not an SQLite file")]
    Required,
    #[error("QICOO_SECRET must be at least 16 characters")]
    TooShort,
    #[error("cannot read or create the secret file {path}: {source}")]
    File {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The configured secret, or the one kept beside the SQLite file.
pub fn load_secret(
    configured: Option<&SecretString>,
    event_store_url: &str,
) -> Result<SecretSlice<u8>, SecretError> {
    if let Some(secret) = configured {
        let bytes = secret.expose_secret().as_bytes();
        if bytes.len() < 16 {
            return Err(SecretError::TooShort);
        }
        return Ok(SecretSlice::from(bytes.to_vec()));
    }
    let db = sqlite_path(event_store_url).ok_or(SecretError::Required)?;
    let mut path = db.into_os_string();
    path.push(".secret");
    file_secret(Path::new(&path))
}

fn file_secret(path: &Path) -> Result<SecretSlice<u8>, SecretError> {
    let err = |source| SecretError::File {
        path: path.to_owned(),
        source,
    };
    match std::fs::read_to_string(path) {
        Ok(text) if text.trim().len() >= 32 => {
            return Ok(SecretSlice::from(text.trim().as_bytes().to_vec()))
        }
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(err(e)),
    }
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    let text = hex::encode(bytes);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(err)?;
    file.write_all(text.as_bytes()).map_err(err)?;
    file.sync_all().map_err(err)?;
    Ok(SecretSlice::from(text.into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_secret_is_created_once_private_and_reused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}", dir.path().join("q.db").display());
        let first = load_secret(None, &url).expect("created");
        let second = load_secret(None, &url).expect("read back");
        assert_eq!(first.expose_secret(), second.expose_secret());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(dir.path().join("q.db.secret"))
                .expect("exists")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn postgres_without_a_configured_secret_is_refused() {
        assert!(matches!(
            load_secret(None, "postgres://localhost/q"),
            Err(SecretError::Required)
        ));
    }
}
