//! Both backends' migrations are generated from one template each (`migrations/generate.sh`):
//! regenerating them from `migrations/templates/` must give exactly the committed trees, so an
//! edit made to one backend's SQL by hand, or a template never regenerated, fails here.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn files_under(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut found = BTreeMap::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).expect("read dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let relative = path.strip_prefix(root).expect("under root").to_path_buf();
                found.insert(relative, std::fs::read(&path).expect("read file"));
            }
        }
    }
    found
}

#[test]
fn committed_migrations_are_what_the_templates_generate() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    let scratch = tempfile::tempdir().expect("temp dir");
    let work = scratch.path().join("migrations");
    std::fs::create_dir_all(work.join("templates")).expect("mkdir");
    std::fs::copy(repo.join("generate.sh"), work.join("generate.sh")).expect("copy script");
    let mut templates: Vec<PathBuf> = std::fs::read_dir(repo.join("templates"))
        .expect("templates")
        .map(|e| e.expect("entry").path())
        .collect();
    templates.sort();
    for template in &templates {
        std::fs::copy(template, work.join("templates").join(template.file_name().expect("name"))).expect("copy template");
    }
    let mut generated = 0;
    for template in templates.iter().filter(|t| !t.to_string_lossy().ends_with(".down.sql")) {
        let name = template.file_name().expect("name");
        let status = Command::new("bash")
            .arg(work.join("generate.sh"))
            .arg(work.join("templates").join(name))
            .status()
            .expect("run generate.sh");
        assert!(status.success(), "generate.sh failed on {}", template.display());
        generated += 1;
    }
    assert!(generated >= 3, "found only {generated} templates");
    for backend in ["sqlite", "postgres"] {
        let committed = files_under(&repo.join(backend));
        let regenerated = files_under(&work.join(backend));
        let names = |m: &BTreeMap<PathBuf, Vec<u8>>| m.keys().cloned().collect::<Vec<_>>();
        assert_eq!(names(&committed), names(&regenerated), "{backend}: the committed migrations are not the generated set");
        for (path, bytes) in &committed {
            assert!(
                regenerated[path] == *bytes,
                "migrations/{backend}/{} differs from what migrations/generate.sh makes of its template; regenerate it",
                path.display()
            );
        }
    }
}
