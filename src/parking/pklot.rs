//! Reads the spaces of a PKLot annotation file (`<parking><space id occupied><contour><point x y/>`).
//!
//! PKLot: Almeida et al., "PKLot – A robust dataset for parking lot classification", Expert
//! Systems with Applications 42(11), 2015 (CC BY 4.0).

use super::geometry::{Polygon, PolygonError};

#[derive(Debug, Clone, PartialEq)]
pub struct PklotSpace {
    /// The space's `id` attribute, used as the slot's label.
    pub label: String,
    pub polygon: Polygon,
    /// The annotation's ground truth, when the file has one.
    pub occupied: Option<bool>,
}

#[derive(Debug, thiserror::Error)]
pub enum PklotError {
    #[error("not well-formed XML: {0}")]
    Xml(#[from] roxmltree::Error),
    #[error("the root element is <{0}>, expected <parking>")]
    NotParking(String),
    #[error("space #{index}: {message}")]
    Space { index: usize, message: String },
    #[error("space {label}: {source}")]
    Polygon { label: String, source: PolygonError },
    #[error("space id {0} appears twice")]
    DuplicateId(String),
    #[error("the file has no spaces")]
    Empty,
}

pub fn parse(xml: &str) -> Result<Vec<PklotSpace>, PklotError> {
    let doc = roxmltree::Document::parse(xml)?;
    let root = doc.root_element();
    if root.tag_name().name() != "parking" {
        return Err(PklotError::NotParking(root.tag_name().name().to_string()));
    }
    let mut spaces: Vec<PklotSpace> = Vec::new();
    for (index, space) in root.children().filter(|n| n.has_tag_name("space")).enumerate() {
        let bad = |message: &str| PklotError::Space { index, message: message.to_string() };
        let label = space.attribute("id").map(str::trim).filter(|s| !s.is_empty()).ok_or_else(|| bad("no id"))?;
        let occupied = match space.attribute("occupied") {
            None | Some("") => None,
            Some("1") | Some("true") => Some(true),
            Some("0") | Some("false") => Some(false),
            Some(_) => return Err(bad("occupied is not 0 or 1")),
        };
        let contour = space.children().find(|n| n.has_tag_name("contour")).ok_or_else(|| bad("no <contour>"))?;
        let mut points = Vec::new();
        for p in contour.children().filter(|n| n.has_tag_name("point")) {
            let coord = |name: &str| -> Result<f64, PklotError> {
                p.attribute(name)
                    .and_then(|v| v.trim().parse::<f64>().ok())
                    .ok_or_else(|| bad(&format!("a point has no numeric {name}")))
            };
            points.push([coord("x")?, coord("y")?]);
        }
        let polygon =
            Polygon::new(points).map_err(|source| PklotError::Polygon { label: label.to_string(), source })?;
        if spaces.iter().any(|s| s.label == label) {
            return Err(PklotError::DuplicateId(label.to_string()));
        }
        spaces.push(PklotSpace { label: label.to_string(), polygon, occupied });
    }
    if spaces.is_empty() {
        return Err(PklotError::Empty);
    }
    Ok(spaces)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_spaces_and_ground_truth() {
        let xml = r#"<?xml version="1.0"?>
        <parking id="ufpr05">
          <space id="1" occupied="0">
            <rotatedRect><center x="678" y="593"/><size w="82" h="176"/><angle d="-71"/></rotatedRect>
            <contour><point x="608" y="613"/><point x="741" y="654"/><point x="775" y="582"/><point x="608" y="526"/></contour>
          </space>
          <space id="2" occupied="1">
            <contour><point x="1" y="1"/><point x="9" y="1"/><point x="9" y="9"/></contour>
          </space>
        </parking>"#;
        let spaces = parse(xml).unwrap();
        assert_eq!(spaces.len(), 2);
        assert_eq!(spaces[0].label, "1");
        assert_eq!(spaces[0].occupied, Some(false));
        assert_eq!(spaces[0].polygon.points()[1], [741.0, 654.0]);
        assert_eq!(spaces[1].occupied, Some(true));
    }

    #[test]
    fn reports_what_is_wrong() {
        assert!(matches!(parse("<parking"), Err(PklotError::Xml(_))));
        assert!(matches!(parse("<lot/>"), Err(PklotError::NotParking(_))));
        assert!(matches!(parse("<parking/>"), Err(PklotError::Empty)));
        let two_points =
            r#"<parking><space id="1"><contour><point x="1" y="1"/><point x="2" y="2"/></contour></space></parking>"#;
        assert!(matches!(parse(two_points), Err(PklotError::Polygon { .. })));
        let no_y = r#"<parking><space id="1"><contour><point x="1"/></contour></space></parking>"#;
        assert!(matches!(parse(no_y), Err(PklotError::Space { .. })));
    }

    #[test]
    fn reads_the_shared_fixtures() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../shared/fixtures/pklot/annotated/sequence1/bounding_boxes");
        let Ok(entries) = std::fs::read_dir(&dir) else {
            panic!("PKLot fixtures missing at {}", dir.display());
        };
        for entry in entries {
            let path = entry.unwrap().path();
            let spaces = parse(&std::fs::read_to_string(&path).unwrap()).unwrap();
            assert_eq!(spaces.len(), 40, "{}", path.display());
        }
    }
}
