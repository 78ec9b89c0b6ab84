//! Great-circle geometry on a spherical Earth.

/// Mean Earth radius (IUGG R1), in metres. A sphere is accurate to about 0.5% against the
/// ellipsoid, far below the error of a dictated village location; matching compares distances
/// computed the same way, so the ordering is exact for the model used.
pub const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// A validated WGS84 point in decimal degrees.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GeoPoint {
    lat: f64,
    lon: f64,
}

/// Why a coordinate pair is not a point on Earth.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
pub enum Error {
    #[error("latitude must be a finite number between -90 and 90")]
    Latitude,
    #[error("longitude must be a finite number between -180 and 180")]
    Longitude,
}

impl GeoPoint {
    /// Checks the range; NaN and infinities are rejected.
    pub fn new(lat: f64, lon: f64) -> Result<Self, Error> {
        if !lat.is_finite() || !(-90.0..=90.0).contains(&lat) {
            return Err(Error::Latitude);
        }
        if !lon.is_finite() || !(-180.0..=180.0).contains(&lon) {
            return Err(Error::Longitude);
        }
        Ok(Self { lat, lon })
    }

    pub fn lat(self) -> f64 {
        self.lat
    }

    pub fn lon(self) -> f64 {
        self.lon
    }

    /// Great-circle distance in metres: the haversine formula of the `geo` crate, on a sphere
    /// of the same mean radius.
    pub fn distance_m(self, other: GeoPoint) -> f64 {
        use ::geo::{Distance, Haversine, Point};
        Haversine.distance(
            Point::new(self.lon, self.lat),
            Point::new(other.lon, other.lat),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn almaty_to_astana_is_about_970_km() {
        // Settlement coordinates from the committed gazetteer (Who's On First / GeoNames).
        let almaty = GeoPoint::new(43.25654, 76.92848).unwrap();
        let astana = GeoPoint::new(51.18924, 71.43209).unwrap();
        let d = almaty.distance_m(astana) / 1000.0;
        assert!((960.0..980.0).contains(&d), "got {d} km");
    }

    #[test]
    fn distances_are_on_the_sphere_of_the_mean_radius() {
        // A degree of the equator is R·π/180: the radius the matcher's ordering assumes.
        let a = GeoPoint::new(0.0, 10.0).unwrap();
        let b = GeoPoint::new(0.0, 11.0).unwrap();
        let arc = EARTH_RADIUS_M * std::f64::consts::PI / 180.0;
        assert!(
            (a.distance_m(b) - arc).abs() < 1e-6 * arc,
            "{}",
            a.distance_m(b)
        );
    }

    #[test]
    fn rejects_out_of_range_and_non_finite() {
        assert_eq!(GeoPoint::new(90.1, 0.0), Err(Error::Latitude));
        assert_eq!(GeoPoint::new(f64::NAN, 0.0), Err(Error::Latitude));
        assert_eq!(GeoPoint::new(0.0, -180.5), Err(Error::Longitude));
        assert_eq!(GeoPoint::new(0.0, f64::INFINITY), Err(Error::Longitude));
    }

    fn point() -> impl Strategy<Value = GeoPoint> {
        (-90.0f64..=90.0, -180.0f64..=180.0).prop_map(|(a, b)| GeoPoint::new(a, b).unwrap())
    }

    proptest! {
        #[test]
        fn distance_is_a_symmetric_bounded_metric(a in point(), b in point(), c in point()) {
            let ab = a.distance_m(b);
            prop_assert!((ab - b.distance_m(a)).abs() < 1e-6);
            prop_assert!((0.0..=std::f64::consts::PI * EARTH_RADIUS_M + 1e-6).contains(&ab));
            prop_assert!(a.distance_m(a) < 1e-6);
            // Triangle inequality, with slack for floating-point rounding.
            prop_assert!(ab <= a.distance_m(c) + c.distance_m(b) + 1e-3);
        }
    }
}
