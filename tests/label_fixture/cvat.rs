//! Reads a `cvat.xml` with quick-xml into what the convention tests compare.

use std::collections::BTreeMap;

use quick_xml::events::Event;

/// (frame, outside, occluded, keyframe, score, needs_review) per `<box>`, per track id.
pub type CvatBoxes = BTreeMap<u64, Vec<(u64, bool, bool, bool, String, String)>>;

pub fn parse_cvat(text: &str) -> (BTreeMap<String, String>, Vec<String>, CvatBoxes) {
    let mut r = quick_xml::Reader::from_str(text);
    r.config_mut().trim_text(true);
    let (mut meta, mut labels, mut tracks) = (BTreeMap::new(), Vec::new(), CvatBoxes::new());
    let mut path: Vec<String> = vec![];
    let mut current = 0;
    let mut attr_name = String::new();
    let get = |e: &quick_xml::events::BytesStart, k: &str| {
        e.try_get_attribute(k).unwrap().map(|a| a.unescape_value().unwrap().into_owned()).unwrap_or_default()
    };
    loop {
        match r.read_event().expect("well-formed XML") {
            Event::Start(e) => {
                let name = String::from_utf8(e.name().as_ref().to_vec()).unwrap();
                match name.as_str() {
                    "track" => current = get(&e, "id").parse().unwrap(),
                    "box" => tracks.entry(current).or_default().push((
                        get(&e, "frame").parse().unwrap(),
                        get(&e, "outside") == "1",
                        get(&e, "occluded") == "1",
                        get(&e, "keyframe") == "1",
                        String::new(),
                        String::new(),
                    )),
                    "attribute" if path.last().is_some_and(|p| p == "box") => attr_name = get(&e, "name"),
                    _ => {}
                }
                path.push(name);
            }
            Event::End(_) => {
                path.pop();
            }
            Event::Text(t) => {
                let t = t.decode().unwrap().into_owned();
                let p: Vec<&str> = path.iter().map(String::as_str).collect();
                match p.as_slice() {
                    ["annotations", "meta", "task", "labels", "label", "name"] => labels.push(t),
                    ["annotations", "meta", "task", key] => {
                        meta.insert(key.to_string(), t);
                    }
                    [.., "box", "attribute"] => {
                        let b = tracks.get_mut(&current).unwrap().last_mut().unwrap();
                        match attr_name.as_str() {
                            "score" => b.4 = t,
                            "needs_review" => b.5 = t,
                            other => panic!("unexpected attribute {other}"),
                        }
                    }
                    _ => {}
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    (meta, labels, tracks)
}
