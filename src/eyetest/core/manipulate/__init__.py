"""Image manipulations used by audits and the demo (USM, resampling, blur, DoF, JPEG, noise, ...)."""
