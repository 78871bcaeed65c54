//! How many times the loader retries transient IO errors (the retrying is
//! the runtime's), and panics from the Parquet decoder turned into errors.

pub use hf3fs_core::runtime::no_panic;
pub use hf3fs_core::runtime::retry::with_retries;

/// How many times a transient error is retried. Three retries with the
/// runtime's backoff (10, 50, 250 ms) wait 0.31 s in all: long enough to ride out a network
/// mount's brief hiccup, short enough that a real failure surfaces quickly.
pub const DEFAULT_IO_RETRIES: u32 = 3;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panics_become_errors() {
        assert_eq!(no_panic(|| 3), Ok(3));
        let r: Result<(), String> = no_panic(|| panic!("bad page"));
        assert_eq!(r.unwrap_err(), "bad page");
    }
}
