//! The `prometheus-image` OCI image resource: the file `resource-get` points at holds the
//! image reference and registry credentials (Juju's `DockerImageDetails`).

use std::fmt;

use serde::Deserialize;
use thiserror::Error;

/// The resource's name in metadata.yaml.
pub const RESOURCE: &str = "prometheus-image";

/// Where the pod's image comes from: pod spec `imageDetails`.
#[derive(Clone, PartialEq, Eq)]
pub struct ImageDetails {
    pub image_path: String,
    pub username: Option<String>,
    pub password: Option<String>,
}

/// Never prints the registry password, wherever the details end up logged.
impl fmt::Debug for ImageDetails {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ImageDetails")
            .field("image_path", &self.image_path)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// Why there is no usable image (either way the unit is blocked until it is fixed).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ImageError {
    #[error("resource {RESOURCE} is missing: {0}")]
    Missing(String),
    #[error("resource {RESOURCE} is invalid: {0}")]
    Invalid(String),
}

#[derive(Deserialize)]
struct ResourceFile {
    #[serde(default)]
    registrypath: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
}

/// Reads the resource file's YAML (`registrypath`, `username`, `password`). The file holds a
/// registry password: no message quotes its text (a YAML parser's error does, so only the
/// field at fault is named).
pub fn parse(text: &str) -> Result<ImageDetails, ImageError> {
    let not_yaml = || {
        ImageError::Invalid(
            "it is not YAML with registrypath, username and password (its text is not \
             shown: it may hold a password)"
                .to_string(),
        )
    };
    let value: serde_json::Value = crate::yaml::from_str(text).map_err(|_| not_yaml())?;
    let fields = match &value {
        serde_json::Value::Null => serde_json::Map::new(),
        serde_json::Value::Object(fields) => fields.clone(),
        _ => return Err(not_yaml()),
    };
    for field in ["registrypath", "username", "password"] {
        if !matches!(
            fields.get(field),
            None | Some(serde_json::Value::Null | serde_json::Value::String(_))
        ) {
            return Err(ImageError::Invalid(format!("{field} is not a string")));
        }
    }
    let file: ResourceFile =
        serde_json::from_value(serde_json::Value::Object(fields)).map_err(|_| not_yaml())?;
    let image_path = file
        .registrypath
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .ok_or_else(|| ImageError::Invalid("registrypath is empty".to_string()))?;
    if image_path
        .chars()
        .any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(ImageError::Invalid(format!(
            "registrypath {image_path:?} is not an image reference"
        )));
    }
    let non_empty = |v: Option<String>| v.filter(|s| !s.is_empty());
    Ok(ImageDetails {
        image_path,
        username: non_empty(file.username),
        password: non_empty(file.password),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_juju_docker_image_details() {
        let image = parse(
            "registrypath: registry.jujucharms.com/charm/abc/prometheus-image@sha256:0123\n\
             username: docker-registry\npassword: s3cr3t\n",
        )
        .unwrap();
        assert_eq!(
            image,
            ImageDetails {
                image_path: "registry.jujucharms.com/charm/abc/prometheus-image@sha256:0123".into(),
                username: Some("docker-registry".into()),
                password: Some("s3cr3t".into()),
            }
        );
    }

    #[test]
    fn debug_output_hides_the_password() {
        let image = parse("registrypath: r/p\nusername: u\npassword: s3cr3t\n").unwrap();
        let shown = format!("{image:?}");
        assert!(!shown.contains("s3cr3t"), "{shown}");
        assert!(shown.contains("<redacted>"));
    }

    #[test]
    fn public_images_have_no_credentials() {
        let image =
            parse("registrypath: ubuntu/prometheus:latest\nusername: ''\npassword: ''\n").unwrap();
        assert_eq!(image.image_path, "ubuntu/prometheus:latest");
        assert_eq!(image.username, None);
        assert_eq!(image.password, None);
    }

    #[test]
    fn unusable_files_are_refused_clearly() {
        for (text, why) in [
            ("", "registrypath is empty"),
            ("username: x\n", "registrypath is empty"),
            ("registrypath: ''\n", "registrypath is empty"),
            ("registrypath: 'a b'\n", "is not an image reference"),
            ("- just\n- a list\n", "is not YAML with registrypath"),
            ("password: [s3cr3t\n", "is not YAML with registrypath"),
            ("registrypath: [a]\n", "registrypath is not a string"),
            ("registrypath: [1]\n", "registrypath is not a string"),
            (
                "registrypath: r/p\npassword: {s3cr3t: 1}\n",
                "password is not a string",
            ),
        ] {
            let err = parse(text).unwrap_err();
            assert!(matches!(err, ImageError::Invalid(_)));
            assert!(err.to_string().contains(why), "{text:?}: {err}");
            assert!(err
                .to_string()
                .starts_with("resource prometheus-image is invalid: "));
            assert!(!err.to_string().contains("s3cr3t"), "{err}");
        }
    }
}
