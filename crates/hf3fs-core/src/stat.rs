//! File status as the client reports it, and time conversions that match Python's `os`.

use std::ffi::OsString;

/// The status of a file: the fields of `os.stat_result`, plus 3FS's `st_ltarg`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileStat {
    pub mode: u32,
    pub ino: u64,
    pub dev: u64,
    pub nlink: u64,
    pub uid: u32,
    pub gid: u32,
    pub size: i64,
    pub atime: Timespec,
    pub mtime: Timespec,
    pub ctime: Timespec,
    pub blocks: i64,
    pub blksize: i64,
    pub rdev: u64,
    /// The link target, when this is the status of a symlink itself.
    pub link_target: Option<OsString>,
}

/// Seconds and nanoseconds since the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timespec {
    pub sec: i64,
    pub nsec: i64,
}

impl Timespec {
    /// Nanoseconds since the epoch (`st_*time_ns`).
    pub fn as_nanos(self) -> i128 {
        self.sec as i128 * 1_000_000_000 + self.nsec as i128
    }

    /// Float seconds exactly as CPython computes `st_*time` (`sec + nsec * 1e-9`).
    pub fn as_f64(self) -> f64 {
        self.sec as f64 + self.nsec as f64 * 1e-9
    }

    /// Split float seconds as CPython's `os.utime(times=...)` does
    /// (`_PyTime_ObjectToTimespec` with `ROUND_FLOOR`).
    pub fn from_f64(t: f64) -> Option<Timespec> {
        if !t.is_finite() {
            return None;
        }
        let int_part = t.trunc();
        let mut frac = ((t - int_part) * 1e9).floor();
        let mut sec = int_part;
        if frac >= 1e9 {
            frac -= 1e9;
            sec += 1.0;
        } else if frac < 0.0 {
            frac += 1e9;
            sec -= 1.0;
        }
        if !(i64::MIN as f64..=i64::MAX as f64).contains(&sec) {
            return None;
        }
        Some(Timespec {
            sec: sec as i64,
            nsec: frac as i64,
        })
    }

    /// Split nanoseconds (`os.utime(ns=...)`), flooring like CPython.
    pub fn from_nanos(ns: i128) -> Option<Timespec> {
        let sec = ns.div_euclid(1_000_000_000);
        let nsec = ns.rem_euclid(1_000_000_000);
        Some(Timespec {
            sec: i64::try_from(sec).ok()?,
            nsec: nsec as i64,
        })
    }
}

impl From<&rustix::fs::Stat> for FileStat {
    fn from(st: &rustix::fs::Stat) -> Self {
        FileStat {
            mode: st.st_mode,
            ino: st.st_ino,
            dev: st.st_dev,
            nlink: st.st_nlink,
            uid: st.st_uid,
            gid: st.st_gid,
            size: st.st_size,
            atime: Timespec {
                sec: st.st_atime,
                nsec: st.st_atime_nsec as i64,
            },
            mtime: Timespec {
                sec: st.st_mtime,
                nsec: st.st_mtime_nsec as i64,
            },
            ctime: Timespec {
                sec: st.st_ctime,
                nsec: st.st_ctime_nsec as i64,
            },
            blocks: st.st_blocks,
            blksize: st.st_blksize,
            rdev: st.st_rdev,
            link_target: None,
        }
    }
}

impl FileStat {
    /// File type bits.
    pub fn file_type(&self) -> u32 {
        self.mode & libc::S_IFMT
    }
    /// Regular file?
    pub fn is_file(&self) -> bool {
        self.file_type() == libc::S_IFREG
    }
    /// Directory?
    pub fn is_dir(&self) -> bool {
        self.file_type() == libc::S_IFDIR
    }
    /// Symbolic link?
    pub fn is_link(&self) -> bool {
        self.file_type() == libc::S_IFLNK
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_times_floor_like_cpython() {
        assert_eq!(
            Timespec::from_f64(1.5),
            Some(Timespec {
                sec: 1,
                nsec: 500_000_000
            })
        );
        let t = Timespec::from_f64(-1.25).unwrap();
        assert_eq!((t.sec, t.nsec), (-2, 750_000_000));
        assert_eq!(Timespec::from_f64(f64::NAN), None);
        assert_eq!(Timespec::from_f64(1e300), None);
    }

    #[test]
    fn nanos_split() {
        let t = Timespec::from_nanos(-1).unwrap();
        assert_eq!((t.sec, t.nsec), (-1, 999_999_999));
        assert_eq!(t.as_nanos(), -1);
        assert_eq!(Timespec::from_nanos(i128::MAX), None);
    }
}
