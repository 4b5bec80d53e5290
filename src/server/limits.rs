//! Process limits a tracker needs raised before it serves.

use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

/// Where the open-file limit ended up, for the log line at start-up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpenFiles {
    pub before: Option<u64>,
    pub now: Option<u64>,
}

/// Raises the soft limit on open files (RLIMIT_NOFILE) to the hard limit.
///
/// Every HTTP connection is a file descriptor, and the usual soft limit of
/// 1024 would cap the tracker far below `http.max_connections`: past it,
/// accepts fail for everyone, which is exactly what a slowloris attacker
/// wants. Raising the soft limit up to the hard one needs no privilege.
/// An unlimited hard limit cannot be set as a soft limit for files, so the
/// kernel's own ceiling (`fs.nr_open`) is used then.
pub fn raise_open_files() -> std::io::Result<OpenFiles> {
    let limit = getrlimit(Resource::Nofile);
    let target = limit.maximum.or_else(kernel_ceiling);
    // `None` is unlimited: a soft limit of `None` is already the most there is.
    let already_max = match (limit.current, target) {
        (None, _) | (_, None) => true,
        (Some(current), Some(target)) => current >= target,
    };
    if already_max {
        return Ok(OpenFiles {
            before: limit.current,
            now: limit.current,
        });
    }
    let raised = Rlimit {
        current: target,
        maximum: limit.maximum,
    };
    setrlimit(Resource::Nofile, raised)?;
    Ok(OpenFiles {
        before: limit.current,
        now: getrlimit(Resource::Nofile).current,
    })
}

/// Logs what [`raise_open_files`] did; failing to raise it is not fatal.
pub fn raise_open_files_and_log() {
    match raise_open_files() {
        Ok(OpenFiles { before, now }) if before == now => {
            tracing::info!(open_files = ?now, "open file limit already at its maximum");
        }
        Ok(OpenFiles { before, now }) => {
            tracing::info!(from = ?before, to = ?now, "raised the open file limit");
        }
        Err(e) => tracing::warn!("cannot raise the open file limit: {e}"),
    }
}

fn kernel_ceiling() -> Option<u64> {
    std::fs::read_to_string("/proc/sys/fs/nr_open")
        .ok()?
        .trim()
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn soft_limit_reaches_the_hard_limit() {
        let raised = raise_open_files().expect("raising to the hard limit needs no privilege");
        let limit = getrlimit(Resource::Nofile);
        assert_eq!(raised.now, limit.current);
        assert!(raised.now >= raised.before);
        assert!(
            limit.maximum.is_none() || limit.current == limit.maximum,
            "{limit:?}"
        );
        assert_eq!(raise_open_files().unwrap().before, raised.now, "idempotent");
    }
}
