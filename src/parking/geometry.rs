//! Space polygons in the pixel coordinates of their camera's frame.

use serde::{Deserialize, Serialize};

/// The most vertices a space may have; a parking space drawn by hand has four.
pub const MAX_VERTICES: usize = 256;
/// Frames are at most a few thousand pixels wide; anything beyond this is a mistake.
pub const MAX_COORDINATE: f64 = 100_000.0;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "Vec<[f64; 2]>", into = "Vec<[f64; 2]>")]
pub struct Polygon(Vec<[f64; 2]>);

impl utoipa::PartialSchema for Polygon {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
        let coordinate =
            ObjectBuilder::new().schema_type(Type::Number).minimum(Some(-MAX_COORDINATE)).maximum(Some(MAX_COORDINATE));
        let point = ArrayBuilder::new().items(coordinate).min_items(Some(2)).max_items(Some(2));
        ArrayBuilder::new()
            .items(point)
            .min_items(Some(3))
            .max_items(Some(MAX_VERTICES))
            .description(Some(
                "[[x, y], …] in the pixel coordinates of the camera's frame; no repeated point, no crossing edges",
            ))
            .examples([serde_json::json!([[10.0, 10.0], [90.0, 10.0], [90.0, 60.0], [10.0, 60.0]])])
            .into()
    }
}

impl utoipa::ToSchema for Polygon {}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PolygonError {
    #[error("a polygon needs at least 3 points, got {0}")]
    TooFewPoints(usize),
    #[error("a polygon may have at most {MAX_VERTICES} points, got {0}")]
    TooManyPoints(usize),
    #[error("point {0} is not a finite coordinate between -{MAX_COORDINATE} and {MAX_COORDINATE}")]
    BadCoordinate(usize),
    #[error("points {0} and {1} are the same point")]
    RepeatedPoint(usize, usize),
    #[error("edges {0} and {1} cross")]
    SelfIntersecting(usize, usize),
    #[error("the polygon has no area")]
    ZeroArea,
}

impl Polygon {
    pub fn new(points: Vec<[f64; 2]>) -> Result<Polygon, PolygonError> {
        validate(&points)?;
        Ok(Polygon(points))
    }

    pub fn points(&self) -> &[[f64; 2]] {
        &self.0
    }

    /// Area by the shoelace formula; positive whatever the winding.
    pub fn area(&self) -> f64 {
        signed_area(&self.0).abs()
    }

    /// Even-odd rule; a point on an edge may fall either way.
    pub fn contains(&self, p: [f64; 2]) -> bool {
        let pts = &self.0;
        let mut inside = false;
        let mut j = pts.len() - 1;
        for i in 0..pts.len() {
            let (a, b) = (pts[i], pts[j]);
            if (a[1] > p[1]) != (b[1] > p[1]) && p[0] < (b[0] - a[0]) * (p[1] - a[1]) / (b[1] - a[1]) + a[0] {
                inside = !inside;
            }
            j = i;
        }
        inside
    }
}

impl TryFrom<Vec<[f64; 2]>> for Polygon {
    type Error = PolygonError;
    fn try_from(points: Vec<[f64; 2]>) -> Result<Self, Self::Error> {
        Polygon::new(points)
    }
}

impl From<Polygon> for Vec<[f64; 2]> {
    fn from(p: Polygon) -> Self {
        p.0
    }
}

fn signed_area(pts: &[[f64; 2]]) -> f64 {
    let n = pts.len();
    (0..n).map(|i| cross(pts[i], pts[(i + 1) % n])).sum::<f64>() / 2.0
}

fn cross(a: [f64; 2], b: [f64; 2]) -> f64 {
    a[0] * b[1] - a[1] * b[0]
}

/// Which side of the line a→b the point c lies on: >0 left, <0 right, 0 on the line.
fn orient(a: [f64; 2], b: [f64; 2], c: [f64; 2]) -> f64 {
    (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])
}

fn on_segment(a: [f64; 2], b: [f64; 2], p: [f64; 2]) -> bool {
    p[0] >= a[0].min(b[0]) && p[0] <= a[0].max(b[0]) && p[1] >= a[1].min(b[1]) && p[1] <= a[1].max(b[1])
}

/// Closed segments a–b and c–d share at least one point.
fn segments_touch(a: [f64; 2], b: [f64; 2], c: [f64; 2], d: [f64; 2]) -> bool {
    let (d1, d2) = (orient(c, d, a), orient(c, d, b));
    let (d3, d4) = (orient(a, b, c), orient(a, b, d));
    if ((d1 > 0.0 && d2 < 0.0) || (d1 < 0.0 && d2 > 0.0)) && ((d3 > 0.0 && d4 < 0.0) || (d3 < 0.0 && d4 > 0.0)) {
        return true;
    }
    (d1 == 0.0 && on_segment(c, d, a))
        || (d2 == 0.0 && on_segment(c, d, b))
        || (d3 == 0.0 && on_segment(a, b, c))
        || (d4 == 0.0 && on_segment(a, b, d))
}

fn validate(pts: &[[f64; 2]]) -> Result<(), PolygonError> {
    let n = pts.len();
    if n < 3 {
        return Err(PolygonError::TooFewPoints(n));
    }
    if n > MAX_VERTICES {
        return Err(PolygonError::TooManyPoints(n));
    }
    if let Some(i) = pts.iter().position(|p| p.iter().any(|v| !v.is_finite() || v.abs() > MAX_COORDINATE)) {
        return Err(PolygonError::BadCoordinate(i));
    }
    for i in 0..n {
        for j in i + 1..n {
            if pts[i] == pts[j] {
                return Err(PolygonError::RepeatedPoint(i, j));
            }
        }
    }
    // Edge i runs from point i to point i+1. Edges that share a vertex touch there by
    // construction; they cross only when the next vertex folds back onto the shared edge.
    for i in 0..n {
        let (a, b) = (pts[i], pts[(i + 1) % n]);
        for j in i + 1..n {
            let (c, d) = (pts[j], pts[(j + 1) % n]);
            let adjacent = j == i + 1 || (i == 0 && j == n - 1);
            let crosses = if adjacent {
                // Shared vertex: b == c (j == i+1) or d == a (wrap-around).
                let (shared, other_a, other_b) = if j == i + 1 { (b, a, d) } else { (a, b, c) };
                orient(other_a, shared, other_b) == 0.0
                    && (on_segment(shared, other_a, other_b) || on_segment(shared, other_b, other_a))
            } else {
                segments_touch(a, b, c, d)
            };
            if crosses {
                return Err(PolygonError::SelfIntersecting(i, j));
            }
        }
    }
    if signed_area(pts).abs() < 1e-9 {
        return Err(PolygonError::ZeroArea);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn poly(p: &[[f64; 2]]) -> Result<Polygon, PolygonError> {
        Polygon::new(p.to_vec())
    }

    #[test]
    fn accepts_simple_shapes() {
        let sq = poly(&[[0.0, 0.0], [10.0, 0.0], [10.0, 10.0], [0.0, 10.0]]).unwrap();
        assert_eq!(sq.area(), 100.0);
        assert!(sq.contains([5.0, 5.0]));
        assert!(!sq.contains([15.0, 5.0]));
        poly(&[[0.0, 0.0], [10.0, 0.0], [5.0, 8.0]]).unwrap();
        // Concave (an L) is fine.
        poly(&[[0.0, 0.0], [10.0, 0.0], [10.0, 4.0], [4.0, 4.0], [4.0, 10.0], [0.0, 10.0]]).unwrap();
        // A straight vertex in the middle of an edge is fine.
        poly(&[[0.0, 0.0], [5.0, 0.0], [10.0, 0.0], [10.0, 10.0]]).unwrap();
    }

    #[test]
    fn rejects_bad_shapes() {
        assert_eq!(poly(&[[0.0, 0.0], [1.0, 1.0]]), Err(PolygonError::TooFewPoints(2)));
        // A bow-tie crosses itself.
        assert!(matches!(
            poly(&[[0.0, 0.0], [10.0, 10.0], [10.0, 0.0], [0.0, 10.0]]),
            Err(PolygonError::SelfIntersecting(_, _))
        ));
        assert!(matches!(poly(&[[0.0, 0.0], [10.0, 0.0], [20.0, 0.0]]), Err(PolygonError::SelfIntersecting(..))));
        // A spike that folds back along its own edge.
        assert!(matches!(
            poly(&[[0.0, 0.0], [10.0, 0.0], [5.0, 0.0], [5.0, 5.0]]),
            Err(PolygonError::SelfIntersecting(..))
        ));
        // A vertex touching a non-adjacent edge.
        assert!(matches!(
            poly(&[[0.0, 0.0], [10.0, 0.0], [10.0, 10.0], [5.0, 0.0], [0.0, 10.0]]),
            Err(PolygonError::SelfIntersecting(..))
        ));
        assert!(matches!(poly(&[[0.0, 0.0], [1.0, 0.0], [0.0, 0.0]]), Err(PolygonError::RepeatedPoint(0, 2))));
        assert!(matches!(poly(&[[0.0, f64::NAN], [1.0, 0.0], [0.0, 1.0]]), Err(PolygonError::BadCoordinate(0))));
        assert!(matches!(poly(&[[0.0, 1e9], [1.0, 0.0], [0.0, 1.0]]), Err(PolygonError::BadCoordinate(0))));
    }

    #[test]
    fn json_round_trip_validates() {
        let p: Polygon = serde_json::from_str("[[0,0],[4,0],[4,3]]").unwrap();
        assert_eq!(serde_json::to_string(&p).unwrap(), "[[0.0,0.0],[4.0,0.0],[4.0,3.0]]");
        assert!(serde_json::from_str::<Polygon>("[[0,0],[4,4],[4,0],[0,4]]").is_err());
        assert!(serde_json::from_str::<Polygon>("[[0,0,1],[4,0],[4,3]]").is_err());
    }
}
