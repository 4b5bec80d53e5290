//! Reading a hook's `options:` block into the hook's own config struct.
//!
//! Every hook deserializes its options with serde into a struct marked
//! `deny_unknown_fields`, so a misspelt key is an error that names it instead
//! of a setting silently left at its default.

use serde::de::DeserializeOwned;
use serde_yaml_ng::Value;

/// Deserializes `options` into `T`. A hook configured without `options:`
/// (YAML null) is read as an empty mapping, so a struct whose fields all have
/// defaults accepts it, and one with required fields names the missing key.
pub fn parse<T: DeserializeOwned>(options: &Value) -> Result<T, String> {
    let options = match options {
        Value::Null => Value::Mapping(Default::default()),
        other => other.clone(),
    };
    serde_yaml_ng::from_value(options).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Example {
        #[serde(default)]
        flag: bool,
    }

    fn yaml(text: &str) -> Value {
        serde_yaml_ng::from_str(text).unwrap()
    }

    #[test]
    fn null_is_an_empty_mapping() {
        assert_eq!(parse::<Example>(&Value::Null), Ok(Example { flag: false }));
    }

    #[test]
    fn unknown_keys_are_named() {
        let err = parse::<Example>(&yaml("flg: true")).unwrap_err();
        assert!(err.contains("unknown field `flg`"), "{err}");
    }
}
