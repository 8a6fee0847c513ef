//! Reads the spaces of a PKLot annotation file (`<parking><space id occupied><contour><point x y/>`).
//!
//! The files are read as PKLot publishes them, quirks included: element names in any case (one
//! UFPR04 file writes `<Point>`), spaces without an `occupied` attribute (no ground truth), and
//! spaces drawn only as a `<rotatedRect>` (or whose contour is not a usable polygon) take the
//! rectangle's corners. Every error says on which line of the file, and what was expected there.
//!
//! PKLot: Almeida et al., "PKLot – A robust dataset for parking lot classification", Expert
//! Systems with Applications 42(11), 2015 (CC BY 4.0).

use roxmltree::Node;

use super::geometry::{Polygon, PolygonError};

#[derive(Debug, Clone, PartialEq)]
pub struct PklotSpace {
    /// The space's `id` attribute, used as the slot's label.
    pub label: String,
    pub polygon: Polygon,
    /// The annotation's ground truth, when the file has one.
    pub occupied: Option<bool>,
}

/// A parsed file: the lot's name (`<parking id>`) and its spaces in file order.
#[derive(Debug, Clone, PartialEq)]
pub struct PklotFile {
    pub lot: Option<String>,
    pub spaces: Vec<PklotSpace>,
}

#[derive(Debug, thiserror::Error)]
pub enum PklotError {
    #[error("not well-formed XML: {0}")]
    Xml(#[from] roxmltree::Error),
    #[error("line {line}: {message}")]
    At { line: u32, message: String },
    #[error("the file has no <space> elements")]
    Empty,
}

pub fn parse(xml: &str) -> Result<Vec<PklotSpace>, PklotError> {
    parse_file(xml).map(|f| f.spaces)
}

pub fn parse_file(xml: &str) -> Result<PklotFile, PklotError> {
    let doc = roxmltree::Document::parse(xml)?;
    let at = |node: Node, message: String| PklotError::At { line: doc.text_pos_at(node.range().start).row, message };
    let root = doc.root_element();
    if !is(root, "parking") {
        return Err(at(root, format!("expected the root element <parking>, found <{}>", root.tag_name().name())));
    }
    let mut spaces: Vec<(PklotSpace, Node)> = Vec::new();
    for space in root.children().filter(|n| is(*n, "space")) {
        let label = attribute(space, "id")
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| at(space, "expected an id attribute on <space>".into()))?;
        let occupied = match attribute(space, "occupied").map(str::trim) {
            None | Some("") => None,
            Some("1") | Some("true") => Some(true),
            Some("0") | Some("false") => Some(false),
            Some(other) => return Err(at(space, format!("space {label}: occupied is {other:?}, expected 0 or 1"))),
        };
        let polygon = shape(space).map_err(|(node, message)| at(node, format!("space {label}: {message}")))?;
        if let Some((_, first)) = spaces.iter().find(|(s, _)| s.label == label) {
            let first = doc.text_pos_at(first.range().start).row;
            return Err(at(space, format!("space id {label} appears twice (first on line {first})")));
        }
        spaces.push((PklotSpace { label: label.to_string(), polygon, occupied }, space));
    }
    if spaces.is_empty() {
        return Err(PklotError::Empty);
    }
    let lot = attribute(root, "id").map(str::trim).filter(|s| !s.is_empty()).map(String::from);
    Ok(PklotFile { lot, spaces: spaces.into_iter().map(|(s, _)| s).collect() })
}

/// PKLot's element names are not consistently cased.
fn is(node: Node, name: &str) -> bool {
    node.is_element() && node.tag_name().name().eq_ignore_ascii_case(name)
}

fn child<'a, 'i>(node: Node<'a, 'i>, name: &str) -> Option<Node<'a, 'i>> {
    node.children().find(|n| is(*n, name))
}

fn attribute<'a>(node: Node<'a, '_>, name: &str) -> Option<&'a str> {
    node.attributes().find(|a| a.name().eq_ignore_ascii_case(name)).map(|a| a.value())
}

fn number(node: Node, name: &str) -> Result<f64, String> {
    attribute(node, name)
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|v| v.is_finite())
        .ok_or_else(|| format!("expected a numeric {name} attribute on <{}>", node.tag_name().name()))
}

/// The contour when it is a valid polygon, else the rotated rectangle; the contour's own problem
/// is the one reported when neither will do.
fn shape<'a, 'i>(space: Node<'a, 'i>) -> Result<Polygon, (Node<'a, 'i>, String)> {
    let contour = child(space, "contour").map(|c| (c, contour_polygon(c)));
    if let Some((_, Ok(p))) = &contour {
        return Ok(p.clone());
    }
    if let Some(rect) = child(space, "rotatedRect") {
        let from_rect = rotated_rect(rect);
        match (&contour, from_rect) {
            (_, Ok(p)) => return Ok(p),
            (None, Err(e)) => return Err(e),
            (Some(_), Err(_)) => {}
        }
    }
    match contour {
        Some((_, Err(e))) => Err(e),
        _ => Err((space, "expected a <contour> of <point x y> or a <rotatedRect>".into())),
    }
}

fn contour_polygon<'a, 'i>(contour: Node<'a, 'i>) -> Result<Polygon, (Node<'a, 'i>, String)> {
    let mut points = Vec::new();
    for p in contour.children().filter(|n| is(*n, "point")) {
        points.push([number(p, "x").map_err(|e| (p, e))?, number(p, "y").map_err(|e| (p, e))?]);
    }
    Polygon::new(points).map_err(|e: PolygonError| (contour, format!("<contour>: {e}")))
}

/// The four corners of OpenCV's `RotatedRect` (centre, size, angle in degrees) that PKLot writes.
fn rotated_rect<'a, 'i>(rect: Node<'a, 'i>) -> Result<Polygon, (Node<'a, 'i>, String)> {
    let part = |name: &str| child(rect, name).ok_or_else(|| (rect, format!("expected <{name}> inside <rotatedRect>")));
    let (center, size, angle) = (part("center")?, part("size")?, part("angle")?);
    let (cx, cy) = (number(center, "x").map_err(|e| (center, e))?, number(center, "y").map_err(|e| (center, e))?);
    let (w, h) = (number(size, "w").map_err(|e| (size, e))?, number(size, "h").map_err(|e| (size, e))?);
    let d = number(angle, "d").map_err(|e| (angle, e))?;
    let (sin, cos) = d.to_radians().sin_cos();
    let corners = [(-w, -h), (w, -h), (w, h), (-w, h)]
        .map(|(dx, dy)| [cx + dx / 2.0 * cos - dy / 2.0 * sin, cy + dx / 2.0 * sin + dy / 2.0 * cos]);
    Polygon::new(corners.to_vec()).map_err(|e| (rect, format!("<rotatedRect>: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    const RECT: &str = r#"<rotatedRect><center x="724" y="623"/><size w="93" h="154"/><angle d="-31"/></rotatedRect>"#;

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
        let file = parse_file(xml).unwrap();
        assert_eq!(file.lot.as_deref(), Some("ufpr05"));
        let spaces = file.spaces;
        assert_eq!(spaces.len(), 2);
        assert_eq!(spaces[0].label, "1");
        assert_eq!(spaces[0].occupied, Some(false));
        assert_eq!(spaces[0].polygon.points()[1], [741.0, 654.0], "the contour wins over the rectangle");
        assert_eq!(spaces[1].occupied, Some(true));
    }

    #[test]
    fn takes_pklot_quirks() {
        // Capitalised names, no ground truth, a space drawn only as a rotated rectangle.
        let xml = format!(
            r#"<Parking id="ufpr04">
              <Space id="1"><Contour><Point X="1" Y="1"/><Point x="9" y="1"/><Point x="9" y="9"/></Contour></Space>
              <space id="2" occupied="1">{RECT}</space>
              <space id="3" occupied="0">{RECT}<contour><point x="1" y="1"/><point x="2" y="2"/></contour></space>
            </Parking>"#
        );
        let spaces = parse(&xml).unwrap();
        assert_eq!(spaces[0].occupied, None);
        assert_eq!(spaces[0].polygon.points().len(), 3);
        // UFPR04's space 1: its published contour is (644,582) (720,549) (805,665) (715,698), not
        // quite a rectangle; the rotated rectangle PKLot fitted to it has corners near each point.
        let corners = spaces[1].polygon.points();
        let contour = [[644.0, 582.0], [720.0, 549.0], [805.0, 665.0], [715.0, 698.0]];
        for (c, want) in corners.iter().zip(contour) {
            assert!((c[0] - want[0]).hypot(c[1] - want[1]) < 20.0, "{corners:?}");
        }
        assert_eq!(spaces[1].occupied, Some(true));
        // A contour that is not a polygon falls back to the rectangle.
        assert_eq!(spaces[2].polygon.points(), corners);
    }

    fn error(xml: &str) -> String {
        parse(xml).unwrap_err().to_string()
    }

    #[test]
    fn every_error_says_where_and_what_was_expected() {
        assert!(error("<parking").starts_with("not well-formed XML"), "{}", error("<parking"));
        assert_eq!(error("<lot/>"), "line 1: expected the root element <parking>, found <lot>");
        assert_eq!(error("<parking/>"), "the file has no <space> elements");
        let two_points = "<parking>\n<space id=\"7\">\n<contour><point x=\"1\" y=\"1\"/><point x=\"2\" y=\"2\"/></contour></space></parking>";
        assert_eq!(error(two_points), "line 3: space 7: <contour>: a polygon needs at least 3 points, got 2");
        let no_y = "<parking>\n<space id=\"1\"><contour>\n<point x=\"1\"/></contour></space></parking>";
        assert_eq!(error(no_y), "line 3: space 1: expected a numeric y attribute on <point>");
        let nothing = "<parking>\n\n<space id=\"4\" occupied=\"1\"/></parking>";
        assert_eq!(error(nothing), "line 3: space 4: expected a <contour> of <point x y> or a <rotatedRect>");
        let bad_rect = "<parking><space id=\"5\">\n<rotatedRect><center x=\"1\" y=\"1\"/><angle d=\"0\"/></rotatedRect></space></parking>";
        assert_eq!(error(bad_rect), "line 2: space 5: expected <size> inside <rotatedRect>");
        let flag = "<parking><space id=\"1\" occupied=\"yes\"/></parking>";
        assert_eq!(error(flag), "line 1: space 1: occupied is \"yes\", expected 0 or 1");
        let no_id = "<parking><space/></parking>";
        assert_eq!(error(no_id), "line 1: expected an id attribute on <space>");
        let square = r#"<contour><point x="1" y="1"/><point x="9" y="1"/><point x="9" y="9"/></contour>"#;
        let twice = format!("<parking>\n<space id=\"1\">{square}</space>\n<space id=\"1\">{square}</space></parking>");
        assert_eq!(error(&twice), "line 3: space id 1 appears twice (first on line 2)");
    }

    #[test]
    fn reads_every_shared_fixture() {
        let shared = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures");
        let mut files = 0;
        for (dir, lot, spaces) in [
            ("pklot/annotated/sequence0/bounding_boxes", "ufpr05", 40),
            ("pklot/annotated/sequence1/bounding_boxes", "ufpr05", 40),
            ("pklot/annotated/sequence4/bounding_boxes", "ufpr05", 40),
            ("lots/pucpr/bounding_boxes", "pucpr", 100),
            ("lots/ufpr04/bounding_boxes", "ufpr04", 28),
        ] {
            let entries = std::fs::read_dir(shared.join(dir))
                .unwrap_or_else(|e| panic!("PKLot fixtures missing at {}: {e}", shared.join(dir).display()));
            for entry in entries {
                let path = entry.unwrap().path();
                let file = parse_file(&std::fs::read_to_string(&path).unwrap())
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                assert_eq!(file.lot.as_deref(), Some(lot), "{}", path.display());
                assert!(file.spaces.len() + 1 >= spaces && file.spaces.len() <= spaces, "{}", path.display());
                files += 1;
            }
        }
        assert_eq!(files, 15 + 6 + 2);
    }
}
