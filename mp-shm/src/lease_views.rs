//! `ndarray` views over a [`Lease`] (the `ndarray` feature): numpy's
//! arrays over shared memory, each worker its own slice.

use ndarray::{ArrayView1, ArrayViewD, ArrayViewMut1, ArrayViewMutD, IxDyn};

use crate::error::{Error, ErrorKind, Result};
use crate::sys::Shareable;
use crate::sys::leased::Lease;

impl<T: Shareable> Lease<'_, T> {
    /// The leased elements as a one-dimensional array view.
    pub fn view(&self) -> ArrayView1<'_, T> {
        ArrayView1::from(&**self)
    }

    /// The leased elements as a mutable one-dimensional array view.
    ///
    /// ```
    #[doc = concat!("# fn main() -> Result<(), ", crate::mp_crate!(shm), "::Error> {")]
    #[doc = concat!("let a = ", crate::mp_crate!(shm), "::RawArray::<f64>::zeroed(6)?;")]
    /// let mut lease = a.lease(0..6)?;
    /// lease.view_mut().assign(&ndarray::arr1(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]));
    /// let mut grid = lease.view_mut_shape(&[2, 3])?;
    /// grid[[1, 2]] *= 10.0;
    /// drop(lease);
    /// assert_eq!(a.load(5)?, 60.0);
    /// # Ok(())
    /// # }
    /// ```
    pub fn view_mut(&mut self) -> ArrayViewMut1<'_, T> {
        ArrayViewMut1::from(&mut **self)
    }

    /// The leased elements as an array view of `shape` (row-major);
    /// a shape of another element count is [`ErrorKind::InvalidArgument`].
    pub fn view_shape(&self, shape: &[usize]) -> Result<ArrayViewD<'_, T>> {
        check_count(shape, self.len())?;
        ArrayViewD::from_shape(IxDyn(shape), self).map_err(|e| shape_error(shape, e))
    }

    /// The leased elements as a mutable array view of `shape` (row-major).
    pub fn view_mut_shape(&mut self, shape: &[usize]) -> Result<ArrayViewMutD<'_, T>> {
        check_count(shape, self.len())?;
        ArrayViewMutD::from_shape(IxDyn(shape), self).map_err(|e| shape_error(shape, e))
    }
}

/// A shape must cover the lease exactly (ndarray accepts longer slices).
fn check_count(shape: &[usize], len: usize) -> Result<()> {
    let count = shape.iter().try_fold(1usize, |n, d| n.checked_mul(*d));
    if count == Some(len) {
        Ok(())
    } else {
        Err(Error::new(
            ErrorKind::InvalidArgument,
            format!("shape {shape:?} does not hold the {len} leased elements"),
        ))
    }
}

fn shape_error(shape: &[usize], e: ndarray::ShapeError) -> Error {
    Error::new(
        ErrorKind::InvalidArgument,
        format!("shape {shape:?} does not fit the lease: {e}"),
    )
}
