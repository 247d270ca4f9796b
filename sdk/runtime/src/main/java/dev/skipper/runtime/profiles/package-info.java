/**
 * Optimization profiles of a bundle's graphs for engine-building backends (TensorRT, ONNX Runtime's
 * TensorRT provider): the row and cache-length ranges of every dynamic input, computed from the
 * manifest alone, and the build spec that is part of an engine cache key.
 */
package dev.skipper.runtime.profiles;
