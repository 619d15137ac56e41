//! Claude Code's own JSON files (`settings.json` for the statusline, `.claude.json` for
//! MCP servers), edited the one way every `--install --write` does it: one entry added
//! or replaced, every other key kept in its order with its exact text, the previous file
//! kept as a backup, and the new one renamed into place.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};
use serde_json::Value;

/// What [`write_entry`] did.
#[derive(Debug, PartialEq)]
pub enum Written {
    /// The entry already had this value; the file was not touched.
    Unchanged,
    /// There was no file: it was created with the entry.
    Created,
    /// The file was rewritten; the old one is kept at `backup`.
    Updated { backup: PathBuf },
}

/// Sets the entry at `keys` (a path of object keys, e.g. `["mcpServers", "ctm"]`) to
/// `value` in the JSON object file at `path`, creating the objects on the way when
/// missing. A file that is not a JSON object, or a key on the way that holds something
/// other than an object, is refused and left as it was. When the entry holds another
/// value, `replace` is asked first with its text: an error leaves the file as it was.
pub fn write_entry(
    path: &Path,
    keys: &[&str],
    value: &Value,
    replace: impl FnOnce(&str) -> Result<()>,
) -> Result<Written> {
    let existing = match std::fs::read_to_string(path) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let text = existing.as_deref().unwrap_or("{}");
    let not_object = || {
        format!(
            "{} is not a JSON object; fix or move it, nothing was changed",
            path.display()
        )
    };
    let mut root = OrderedObject::parse(text).with_context(not_object)?;
    match entry(&root, keys) {
        Some(old) if serde_json::from_str::<Value>(&old).ok().as_ref() == Some(value) => {
            return Ok(Written::Unchanged)
        }
        Some(old) => replace(&old)?,
        None => {}
    }
    set(&mut root, keys, value).with_context(|| {
        format!(
            "{}: {} is not a JSON object; fix it, nothing was changed",
            path.display(),
            keys[..keys.len() - 1].join(".")
        )
    })?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let backup = match &existing {
        Some(_) => {
            let stamp = jiff::Timestamp::now().strftime("%Y%m%dT%H%M%SZ");
            let backup = path.with_file_name(format!("{name}.ctm-backup-{stamp}"));
            // A copy keeps the file's permissions: these files can hold credentials.
            std::fs::copy(path, &backup).with_context(|| {
                format!("cannot back up {} to {}", path.display(), backup.display())
            })?;
            Some(backup)
        }
        None => None,
    };
    let tmp = path.with_file_name(format!(".{name}.ctm-{}", std::process::id()));
    std::fs::write(&tmp, root.to_text())
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    if let Ok(meta) = std::fs::metadata(path) {
        let _ = std::fs::set_permissions(&tmp, meta.permissions());
    }
    std::fs::rename(&tmp, path).with_context(|| format!("cannot replace {}", path.display()))?;
    Ok(match backup {
        Some(backup) => Written::Updated { backup },
        None => Written::Created,
    })
}

/// The text of the value at `keys`, if every key on the way is there.
fn entry(obj: &OrderedObject, keys: &[&str]) -> Option<String> {
    let raw = obj.get(keys[0])?;
    if keys.len() == 1 {
        return Some(raw.to_owned());
    }
    entry(&OrderedObject::parse(raw).ok()?, &keys[1..])
}

fn set(obj: &mut OrderedObject, keys: &[&str], value: &Value) -> Result<()> {
    if keys.len() == 1 {
        obj.set(keys[0], serde_json::to_string_pretty(value)?);
        return Ok(());
    }
    let mut inner = match obj.get(keys[0]) {
        None | Some("null") => OrderedObject::default(),
        Some(raw) => match OrderedObject::parse(raw) {
            Ok(o) => o,
            Err(_) => bail!("{} holds something else", keys[0]),
        },
    };
    set(&mut inner, &keys[1..], value)?;
    obj.set(keys[0], inner.to_raw());
    Ok(())
}

pub use ordered::OrderedObject;

/// A JSON object whose keys keep their order and whose values keep their exact text.
mod ordered {
    use std::fmt;

    use serde::de::{Deserializer, MapAccess, Visitor};
    use serde_json::value::RawValue;

    #[derive(Debug, Default)]
    pub struct OrderedObject(Vec<(String, String)>);

    impl OrderedObject {
        pub fn parse(text: &str) -> Result<OrderedObject, serde_json::Error> {
            let mut de = serde_json::Deserializer::from_str(text);
            let obj = (&mut de).deserialize_map(ObjectVisitor)?;
            de.end()?;
            Ok(obj)
        }

        pub fn get(&self, key: &str) -> Option<&str> {
            self.0
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
        }

        /// Replaces the key's value in place, or appends it.
        pub fn set(&mut self, key: &str, raw_json: String) {
            match self.0.iter_mut().find(|(k, _)| k == key) {
                Some(entry) => entry.1 = raw_json,
                None => self.0.push((key.to_owned(), raw_json)),
            }
        }

        /// The object as JSON, one key per line (indented by two spaces).
        pub fn to_raw(&self) -> String {
            if self.0.is_empty() {
                return "{}".into();
            }
            let mut out = String::from("{");
            for (i, (k, v)) in self.0.iter().enumerate() {
                let key = serde_json::to_string(k).expect("a string serialises");
                let value = v.replace('\n', "\n  ");
                out.push_str(if i == 0 { "\n  " } else { ",\n  " });
                out.push_str(&format!("{key}: {value}"));
            }
            out.push_str("\n}");
            out
        }

        /// The object as a file's text.
        pub fn to_text(&self) -> String {
            self.to_raw() + "\n"
        }
    }

    struct ObjectVisitor;

    impl<'de> Visitor<'de> for ObjectVisitor {
        type Value = OrderedObject;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a JSON object")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<OrderedObject, A::Error> {
            let mut entries: Vec<(String, String)> = Vec::new();
            while let Some((k, v)) = map.next_entry::<String, Box<RawValue>>()? {
                // A repeated key: the last one wins, as in serde_json and Claude Code.
                entries.retain(|(old, _)| *old != k);
                entries.push((k, v.get().to_owned()));
            }
            Ok(OrderedObject(entries))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_keep_their_order_and_text() {
        let text = "{\n  \"theme\": \"dark\",\n  \"env\": {\"A\": 1,   \"B\": [1,2]},\n  \"statusLine\": {\"type\":\"command\",\"command\":\"old\"},\n  \"z\": null\n}\n";
        let mut s = OrderedObject::parse(text).unwrap();
        s.set("statusLine", "{\"type\": \"command\"}".into());
        s.set("added", "true".into());
        let out = s.to_text();
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["env"]["B"], serde_json::json!([1, 2]));
        assert_eq!(v["statusLine"]["type"], "command");
        let keys: Vec<&str> = ["theme", "env", "statusLine", "z", "added"].to_vec();
        let pos: Vec<usize> = keys
            .iter()
            .map(|k| out.find(&format!("\"{k}\"")).unwrap())
            .collect();
        assert!(pos.windows(2).all(|w| w[0] < w[1]), "{out}");
        assert!(
            out.contains("{\"A\": 1,   \"B\": [1,2]}"),
            "values keep their text: {out}"
        );
        assert!(OrderedObject::parse("[1]").is_err());
        assert!(OrderedObject::parse("{} trailing").is_err());
    }

    #[test]
    fn a_nested_entry_is_added_beside_its_siblings_with_a_backup() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".claude.json");
        let entry = serde_json::json!({"type": "stdio", "command": "/bin/ctm", "args": ["mcp"]});

        let anything = |_: &str| Ok(());
        assert_eq!(
            write_entry(&path, &["mcpServers", "ctm"], &entry, anything).unwrap(),
            Written::Created
        );
        let v: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(v["mcpServers"]["ctm"], entry);

        let before = "{\"numStartups\": 3, \"mcpServers\": {\"other\": {\"command\":  \"x\"}}, \"projects\": {}}";
        std::fs::write(&path, before).unwrap();
        let Written::Updated { backup } =
            write_entry(&path, &["mcpServers", "ctm"], &entry, anything).unwrap()
        else {
            panic!("not updated")
        };
        assert_eq!(std::fs::read_to_string(backup).unwrap(), before);
        let after = std::fs::read_to_string(&path).unwrap();
        assert!(after.contains("{\"command\":  \"x\"}"), "{after}");
        let v: Value = serde_json::from_str(&after).unwrap();
        assert_eq!(v["mcpServers"]["ctm"], entry);
        assert_eq!(v["numStartups"], 3);
        assert_eq!(
            write_entry(&path, &["mcpServers", "ctm"], &entry, anything).unwrap(),
            Written::Unchanged
        );

        // Another value is replaced only when `replace` agrees.
        let other = serde_json::json!({"command": "elsewhere"});
        let mut asked = None;
        let refused = write_entry(&path, &["mcpServers", "ctm"], &other, |old| {
            asked = Some(old.to_owned());
            anyhow::bail!("no")
        });
        assert!(refused.is_err());
        assert_eq!(
            serde_json::from_str::<Value>(&asked.unwrap()).unwrap(),
            entry
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), after);

        std::fs::write(&path, "{\"mcpServers\": [1]}").unwrap();
        let err = write_entry(&path, &["mcpServers", "ctm"], &entry, anything).unwrap_err();
        assert!(
            format!("{err:#}").contains("mcpServers is not a JSON object"),
            "{err:#}"
        );
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "{\"mcpServers\": [1]}"
        );
    }
}
