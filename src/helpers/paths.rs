//! Paths as the database records them, and where files beside one go.

use std::path::Path;

/// `p` made absolute (without resolving links), as `sources.location`
/// records it; `p` itself when the working directory cannot be read.
pub fn absolute(p: &Path) -> String {
    std::path::absolute(p)
        .unwrap_or_else(|_| p.to_path_buf())
        .display()
        .to_string()
}

/// The directory `path` is in (`.` for a bare file name): where files
/// written beside it go, on its file system.
pub fn directory_of(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_file_name_is_in_the_working_directory() {
        assert_eq!(directory_of(Path::new("case.sqlite")), Path::new("."));
        assert_eq!(directory_of(Path::new("/x/case.sqlite")), Path::new("/x"));
        assert!(Path::new(&absolute(Path::new("case.sqlite"))).is_absolute());
    }
}
