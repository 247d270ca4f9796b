/** Text handling around generation: stop strings. */
package dev.skipper.core.text;
