//! The golden listing of persisted names: a rename fails this test until the file is updated, so it
//! shows up in review as the migration it is.

use std::path::PathBuf;

use tributary_providers::{CatalogConfig, registry};

const HEADER_MARK: char = '#';

#[test]
fn persisted_names_match_the_golden_file() {
    let registry = registry(&CatalogConfig::default()).expect("the built-in catalog is valid");
    let actual = registry.persisted_names();
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("stable-names.golden");
    let golden = std::fs::read_to_string(&path).expect("the golden file exists");
    let header: String = golden
        .lines()
        .take_while(|line| line.starts_with(HEADER_MARK))
        .map(|line| format!("{line}\n"))
        .collect();
    let expected = &golden[header.len()..];
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, format!("{header}{actual}")).unwrap();
        return;
    }
    assert_eq!(
        actual, expected,
        "persisted names changed; if intended, run with UPDATE_GOLDEN=1 and review the diff"
    );
}
