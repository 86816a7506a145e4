//! COCO JSON with video and track fields (TAO style, prelabel's `coco.json`,
//! [`crate::export::coco`]) into [`MotRow`]s: takes the file's text, gives one row per
//! annotation. Each annotation needs a `bbox` `[x, y, w, h]`, a track id (`track_id`, or
//! `attributes.track_id` as CVAT writes it) and a frame: its own `frame_index`, else the
//! `frame_index` of its image (`image_id`), counted from 0 and converted to MOT's from-1.
//! `score` is the box score (1 when absent); `label` keeps only annotations whose
//! `category_id` names that category.

use std::collections::HashMap;
use std::path::Path;

use serde_json::Value;

use super::read::{xywh_box, MAX_FRAME, MAX_ROWS};
use super::MotRow;
use crate::error::{Error, Result};

/// Parses COCO JSON `text` (read from `path`, named in errors).
pub(crate) fn read_coco(text: &str, path: &Path, label: Option<&str>) -> Result<Vec<MotRow>> {
    let err = |msg: String| Error::Usage(format!("{}: {msg}", path.display()));
    let doc: Value = serde_json::from_str(text).map_err(|e| err(format!("not JSON: {e}")))?;
    let list = |key: &str| -> Result<&[Value]> {
        match doc.get(key) {
            None => Ok(&[]),
            Some(v) => v.as_array().map(Vec::as_slice).ok_or_else(|| err(format!("\"{key}\" is not a list"))),
        }
    };
    let frame_of_image: HashMap<i64, i64> =
        list("images")?.iter().filter_map(|im| Some((im.get("id")?.as_i64()?, im.get("frame_index")?.as_i64()?))).collect();
    let image_ids: std::collections::HashSet<i64> = list("images")?.iter().filter_map(|im| im.get("id")?.as_i64()).collect();
    let keep_category: Option<Vec<i64>> = label.map(|l| {
        list("categories")
            .unwrap_or_default()
            .iter()
            .filter(|c| c.get("name").and_then(Value::as_str) == Some(l))
            .filter_map(|c| c.get("id")?.as_i64())
            .collect()
    });
    if doc.get("annotations").is_none() {
        return Err(err("no \"annotations\" list: not a COCO file".into()));
    }
    let mut rows = Vec::new();
    // Every annotation is checked, whatever `label` keeps: a file is valid or not the same way
    // for `eval` and `calibrate`, with or without --label.
    for (n, a) in list("annotations")?.iter().enumerate() {
        let bad = |what: &str| err(format!("annotations[{n}] (id {}): {what}", a.get("id").unwrap_or(&Value::Null)));
        let category = match a.get("category_id") {
            None | Some(Value::Null) => None,
            Some(c) => Some(c.as_i64().ok_or_else(|| bad("category_id is not a whole number"))?),
        };
        let id = a
            .get("track_id")
            .or_else(|| a.get("attributes").and_then(|x| x.get("track_id")))
            .and_then(Value::as_i64)
            .ok_or_else(|| bad("no whole-number track_id (nor attributes.track_id)"))?;
        let image = match a.get("image_id") {
            None | Some(Value::Null) => None,
            Some(v) => {
                let im = v.as_i64().ok_or_else(|| bad("image_id is not a whole number"))?;
                if !image_ids.contains(&im) {
                    return Err(bad(&format!("image_id {im} names no image of \"images\"")));
                }
                Some(im)
            }
        };
        let frame = match a.get("frame_index") {
            Some(f) => Some(f.as_i64().ok_or_else(|| bad("frame_index is not a whole number"))?),
            None => image.and_then(|im| frame_of_image.get(&im).copied()),
        }
        .ok_or_else(|| bad("no frame_index, and no image_id of an image with a frame_index"))?;
        if frame < 0 {
            return Err(bad("frame_index below 0"));
        }
        if frame as u64 >= MAX_FRAME {
            return Err(bad(&format!("frame_index beyond {MAX_FRAME}")));
        }
        let b: Vec<f64> = a
            .get("bbox")
            .and_then(Value::as_array)
            .map(|v| v.iter().filter_map(Value::as_f64).filter(|x| x.is_finite()).collect())
            .unwrap_or_default();
        if b.len() != 4 {
            return Err(bad("bbox is not [x, y, w, h] of 4 numbers"));
        }
        let bbox = xywh_box(b[0], b[1], b[2], b[3]).map_err(|why| bad(&why))?;
        let conf = match a.get("score") {
            None | Some(Value::Null) => 1.0,
            Some(s) => s.as_f64().filter(|s| s.is_finite() && (*s as f32).is_finite()).ok_or_else(|| bad("score is not a number"))? as f32,
        };
        if let Some(keep) = &keep_category {
            if !category.is_some_and(|c| keep.contains(&c)) {
                if category.is_none() {
                    return Err(bad("no category_id (needed to keep only one label)"));
                }
                continue;
            }
        }
        if rows.len() >= MAX_ROWS {
            return Err(err(format!("more than {MAX_ROWS} boxes")));
        }
        rows.push(MotRow { frame: frame as u64 + 1, id, bbox, conf });
    }
    Ok(rows)
}

/// `tracks[].score` by `tracks[].id`, for the tracks that have both (see
/// [`super::read_track_scores`]).
pub(crate) fn track_scores(text: &str, path: &Path) -> Result<HashMap<i64, f64>> {
    let doc: Value = serde_json::from_str(text).map_err(|e| Error::Usage(format!("{}: not JSON: {e}", path.display())))?;
    let tracks = doc.get("tracks").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    Ok(tracks.iter().filter_map(|t| Some((t.get("id")?.as_i64()?, t.get("score")?.as_f64()?))).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::BBox;

    const JSON: &str = r#"{"categories":[{"id":1,"name":"person"},{"id":3,"name":"car"}],
      "images":[{"id":1,"frame_index":0},{"id":2,"frame_index":1}],
      "annotations":[
        {"id":1,"image_id":1,"track_id":7,"category_id":1,"bbox":[1,2,3,4],"score":0.5},
        {"id":2,"image_id":2,"attributes":{"track_id":7},"category_id":1,"bbox":[2,2,3,4]},
        {"id":3,"frame_index":5,"track_id":8,"category_id":3,"bbox":[0,0,1,1],"score":0.9}]}"#;

    #[test]
    fn rows_frames_and_label_filter() {
        let rows = read_coco(JSON, Path::new("c.json"), None).unwrap();
        assert_eq!(rows.iter().map(|r| (r.frame, r.id)).collect::<Vec<_>>(), [(1, 7), (2, 7), (6, 8)]);
        assert_eq!(rows[0].bbox, BBox { x1: 1.0, y1: 2.0, x2: 4.0, y2: 6.0 });
        assert_eq!((rows[0].conf, rows[1].conf), (0.5, 1.0));
        assert_eq!(read_coco(JSON, Path::new("c.json"), Some("person")).unwrap().len(), 2);
        assert!(read_coco(JSON, Path::new("c.json"), Some("dog")).unwrap().is_empty());
        assert!(track_scores(JSON, Path::new("c.json")).unwrap().is_empty());
        let with = JSON.replacen('{', r#"{"tracks":[{"id":7,"score":0.61},{"id":8}],"#, 1);
        assert_eq!(track_scores(&with, Path::new("c.json")).unwrap(), HashMap::from([(7, 0.61)]));
    }

    #[test]
    fn errors_name_the_annotation() {
        let e = read_coco(&JSON.replace("[2,2,3,4]", "[2,2,3]"), Path::new("c.json"), None).unwrap_err().to_string();
        assert!(e.starts_with("c.json: annotations[1] (id 2)") && e.contains("bbox"), "{e}");
        let e = read_coco(&JSON.replace("\"track_id\":8,", ""), Path::new("c.json"), None).unwrap_err().to_string();
        assert!(e.contains("annotations[2]") && e.contains("track_id"), "{e}");
        assert!(read_coco("{\"images\": []", Path::new("c.json"), None).unwrap_err().to_string().contains("line"));
        assert!(read_coco("{}", Path::new("c.json"), None).is_err());
        // What cannot be a box, or names nothing, is an error whatever --label keeps.
        for (from, to) in
            [("[0,0,1,1]", "[0,0,-1,1]"), ("\"image_id\":2", "\"image_id\":9"), ("\"frame_index\":5", "\"frame_index\":5,\"image_id\":9")]
        {
            let broken = JSON.replace(from, to);
            for label in [None, Some("person"), Some("car")] {
                let e = read_coco(&broken, Path::new("c.json"), label);
                assert!(e.is_err(), "{to} with {label:?} was accepted");
            }
        }
    }
}
