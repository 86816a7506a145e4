//! A job's calibration profile (`prelabel run --calibration FILE`, or `calibration = "FILE"` in
//! a `--config` file; [`super::JobSettings::calibration`]): takes
//! the profile `prelabel calibrate --profile` wrote, the model and the job's labels; gives the
//! refine stage its rules by model class ([`crate::refine::RefineConfig::guideline`]) and
//! routing the profile's review levels, as `--thresholds` entries placed before the command
//! line's (so a class named on the command line keeps the command line's levels). Without
//! `--calibration` nothing here runs and the labels are exactly those of a run without it.

use std::collections::BTreeMap;
use std::path::Path;

use crate::error::{Error, Result};
use crate::labels::{class_index, LabelSet};
use crate::model::ModelSpec;
use crate::refine::profile::{ClassProfile, Profile};

/// The profile's review levels as `--thresholds` entries, `NAME=ACCEPT[:DROP]`.
pub(crate) fn level_specs(profile: &Profile) -> Vec<String> {
    profile
        .class
        .iter()
        .filter_map(|(name, c)| {
            let accept = c.accept?;
            Some(match c.drop {
                Some(d) => format!("{name}={accept}:{d}"),
                None => format!("{name}={accept}"),
            })
        })
        .collect()
}

/// The profile's box rules by model class; a name must be a label of `labels` or a class of
/// the model.
pub(crate) fn rules_by_class(profile: &Profile, path: &Path, spec: &ModelSpec, labels: &LabelSet) -> Result<BTreeMap<u32, ClassProfile>> {
    let mut out = BTreeMap::new();
    for (name, c) in &profile.class {
        let classes = match labels.classes_of(name) {
            c if !c.is_empty() => c,
            _ => vec![class_index(spec, name).map_err(|_| {
                Error::Usage(format!(
                    "--calibration {}: class.{name}: '{name}' is neither a label of this run nor a class of model {}",
                    path.display(),
                    spec.name
                ))
            })?],
        };
        if c.changes_boxes() {
            for class in classes {
                out.insert(class, c.clone());
            }
        }
    }
    Ok(out)
}

/// Reads the profile at `path` and its sha256 (for report.json).
pub(crate) fn load(path: &Path) -> Result<(Profile, String)> {
    let profile = Profile::load(path)?;
    let sha =
        crate::fingerprint::sha256_file(path).map_err(|e| Error::Usage(format!("--calibration {}: cannot read: {e}", path.display())))?;
    Ok((profile, sha))
}
