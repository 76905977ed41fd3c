//! The testkit's fixtures and the provider crate's copies its mapping goldens read must not drift
//! apart: the fakes would then serve payloads the goldens no longer describe.

use std::path::Path;

#[test]
fn the_provider_crates_copies_are_identical() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let ours = manifest.join("fixtures");
    let theirs = manifest.join("../providers/tests/fixtures");
    let mut compared = 0;
    for provider in std::fs::read_dir(&ours).unwrap() {
        let provider = provider.unwrap().path();
        if !provider.is_dir() {
            continue;
        }
        for file in std::fs::read_dir(&provider).unwrap() {
            let file = file.unwrap().path();
            let copy = theirs
                .join(provider.file_name().unwrap())
                .join(file.file_name().unwrap());
            if !copy.exists() {
                continue;
            }
            assert_eq!(
                std::fs::read_to_string(&file).unwrap(),
                std::fs::read_to_string(&copy).unwrap(),
                "{} differs from {}",
                file.display(),
                copy.display()
            );
            compared += 1;
        }
    }
    // Slack's six members, GitHub's eleven payloads and Entra's seven are shared.
    assert_eq!(compared, 24);
}
