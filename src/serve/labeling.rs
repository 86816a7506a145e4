//! A Label Studio project's labeling config, as far as predictions need it: which task data
//! key holds the video, the names the regions must carry, and which of its labels prelabel
//! can draw. Takes the config's XML (the `label_config` of a predict request, the `schema` of
//! a setup request) and the labels the server's settings produce; gives a [`Project`] that
//! turns prelabel's Label Studio regions into this project's.

use std::collections::BTreeSet;

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;
use serde_json::Value;

/// Largest labeling config read (Label Studio's own are a few KiB).
const MAX_CONFIG: usize = 1 << 20;

/// What predictions for one project look like.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    /// The task data key of the video (`<Video value="$video">` -> `video`).
    pub data_key: String,
    /// The `VideoRectangle` control's name: the regions' `from_name`.
    pub from_name: String,
    /// The `Video` object's name: the regions' `to_name`.
    pub to_name: String,
    /// The config's labels prelabel can produce; regions of other labels are dropped.
    pub labels: BTreeSet<String>,
}

/// One element's attribute, unescaped; None when absent or unreadable.
fn attr(e: &BytesStart, name: &str) -> Option<String> {
    e.attributes().flatten().find(|a| a.key.as_ref() == name.as_bytes()).and_then(|a| a.unescape_value().ok().map(|v| v.into_owned()))
}

#[derive(Default)]
struct Found {
    /// (name, value) of each `<Video>`.
    videos: Vec<(String, String)>,
    /// (name, toName) of each `<VideoRectangle>`.
    rects: Vec<(String, String)>,
    /// (toName of the enclosing `<Labels>`, value) of each `<Label>`.
    labels: Vec<(String, String)>,
}

fn scan(xml: &str) -> Result<Found, String> {
    let mut reader = Reader::from_str(xml);
    let mut found = Found::default();
    // The toName of the `<Labels>` being read, if inside one.
    let mut labels_to: Option<String> = None;
    loop {
        let event = reader.read_event().map_err(|e| format!("the labeling config is not well-formed XML: {e}"))?;
        let (e, opens) = match &event {
            Event::Start(e) => (e, true),
            Event::Empty(e) => (e, false),
            Event::End(e) => {
                if e.name().as_ref() == b"Labels" {
                    labels_to = None;
                }
                continue;
            }
            Event::Eof => break,
            _ => continue,
        };
        match e.name().as_ref() {
            b"Video" => found.videos.push((attr(e, "name").unwrap_or_default(), attr(e, "value").unwrap_or_default())),
            b"VideoRectangle" => found.rects.push((attr(e, "name").unwrap_or_default(), attr(e, "toName").unwrap_or_default())),
            b"Labels" if opens => labels_to = Some(attr(e, "toName").unwrap_or_default()),
            b"Label" => {
                if let (Some(to), Some(v)) = (&labels_to, attr(e, "value")) {
                    found.labels.push((to.clone(), v));
                }
            }
            _ => {}
        }
    }
    Ok(found)
}

impl Project {
    /// Reads `xml`; `known` are the labels prelabel's settings can write. An error says what
    /// the config lacks: a `<Video>` with a `$key` value, a `<VideoRectangle>` on it, or any
    /// label prelabel knows.
    pub fn parse(xml: &str, known: &BTreeSet<String>) -> Result<Project, String> {
        if xml.len() > MAX_CONFIG {
            return Err(format!("the labeling config is {} bytes, more than the {MAX_CONFIG} read", xml.len()));
        }
        let found = scan(xml)?;
        let (to_name, value) = found
            .videos
            .first()
            .ok_or("the labeling config has no <Video> object: prelabel labels video (use the Video Object Tracking template)")?;
        let data_key = value.strip_prefix('$').filter(|k| !k.is_empty()).ok_or_else(|| {
            format!("<Video name={to_name:?} value={value:?}>: the value must name a task data key, as in value=\"$video\"")
        })?;
        let from_name = found
            .rects
            .iter()
            .find(|(_, to)| to == to_name)
            .map(|(name, _)| name.clone())
            .ok_or_else(|| format!("the labeling config has no <VideoRectangle toName={to_name:?}>: prelabel draws video boxes"))?;
        let config_labels: BTreeSet<&String> = found.labels.iter().filter(|(to, _)| to == to_name).map(|(_, v)| v).collect();
        let labels: BTreeSet<String> = config_labels.iter().filter(|l| known.contains(**l)).map(|l| (*l).clone()).collect();
        if labels.is_empty() {
            let theirs: Vec<&str> = config_labels.iter().map(|s| s.as_str()).collect();
            let ours: Vec<&str> = known.iter().map(|s| s.as_str()).collect();
            return Err(format!(
                "none of the labeling config's labels on {to_name:?} ({}) is one prelabel draws with its settings ({}): \
                 name a label after one of those, or start prelabel serve with --labels mapping its classes to yours",
                if theirs.is_empty() { "none".into() } else { theirs.join(", ") },
                ours.join(", ")
            ));
        }
        Ok(Project { data_key: data_key.to_string(), from_name, to_name: to_name.clone(), labels })
    }

    /// prelabel's regions (as `labelstudio.json` holds them) for this project: those whose
    /// label the config has, with its control and object names.
    pub fn regions(&self, regions: &[Value]) -> Vec<Value> {
        regions
            .iter()
            .filter(|r| {
                r["value"]["labels"].as_array().is_some_and(|l| l.iter().any(|l| l.as_str().is_some_and(|l| self.labels.contains(l))))
            })
            .map(|r| {
                let mut r = r.clone();
                r["from_name"] = Value::from(self.from_name.as_str());
                r["to_name"] = Value::from(self.to_name.as_str());
                r
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn known() -> BTreeSet<String> {
        ["person", "car", "bus"].into_iter().map(String::from).collect()
    }

    const TEMPLATE: &str = r#"<View>
  <Labels name="videoLabels" toName="clip" allowEmpty="true">
    <Label value="person" background="red"/>
    <Label value="Car &amp; co"/>
    <Label value="car"/>
    <Label value="dog"/>
  </Labels>
  <Video name="clip" value="$movie" framerate="25.0"/>
  <VideoRectangle name="rect" toName="clip" />
</View>"#;

    #[test]
    fn reads_the_names_and_the_labels_prelabel_knows() {
        let p = Project::parse(TEMPLATE, &known()).unwrap();
        assert_eq!((p.data_key.as_str(), p.from_name.as_str(), p.to_name.as_str()), ("movie", "rect", "clip"));
        assert_eq!(p.labels.iter().map(String::as_str).collect::<Vec<_>>(), ["car", "person"]);
    }

    #[test]
    fn configs_prelabel_cannot_serve_are_errors_saying_why() {
        let k = known();
        for (xml, says) in [
            ("<View><Image name=\"i\" value=\"$image\"/></View>", "no <Video>"),
            ("<View><Video name=\"v\" value=\"video\"/></View>", "task data key"),
            ("<View><Video name=\"v\" value=\"$video\"/><Labels name=\"l\" toName=\"v\"><Label value=\"person\"/></Labels></View>", "no <VideoRectangle"),
            ("<View><Video name=\"v\" value=\"$video\"/><VideoRectangle name=\"b\" toName=\"v\"/><Labels name=\"l\" toName=\"v\"><Label value=\"cat\"/></Labels></View>", "none of the labeling config's labels"),
            ("<View><Video name=\"v\" value=\"$video\"/><VideoRectangle name=\"b\" toName=\"v\"/></View>", "(none)"),
            ("<View><Video", "not well-formed"),
        ] {
            let e = Project::parse(xml, &k).unwrap_err();
            assert!(e.contains(says), "{xml}: {e}");
        }
    }

    #[test]
    fn regions_of_other_labels_are_dropped_and_names_follow_the_config() {
        let p = Project::parse(TEMPLATE, &known()).unwrap();
        let regions = vec![
            json!({"id": "track-1", "from_name": "box", "to_name": "video", "value": {"labels": ["person"]}}),
            json!({"id": "track-2", "from_name": "box", "to_name": "video", "value": {"labels": ["bus"]}}),
        ];
        let out = p.regions(&regions);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0]["id"], "track-1");
        assert_eq!((out[0]["from_name"].as_str(), out[0]["to_name"].as_str()), (Some("rect"), Some("clip")));
    }
}
