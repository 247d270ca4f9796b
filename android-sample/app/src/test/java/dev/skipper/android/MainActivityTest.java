package dev.skipper.android;

import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertTrue;

import org.junit.Test;
import org.junit.runner.RunWith;
import org.robolectric.Robolectric;
import org.robolectric.RobolectricTestRunner;
import org.robolectric.android.controller.ActivityController;

/** The screen on a device without the model: it says how to push it and offers nothing to press. */
@RunWith(RobolectricTestRunner.class)
public class MainActivityTest {
    @Test
    public void withoutTheModelTheScreenSaysHowToPushIt() {
        try (ActivityController<MainActivity> c = Robolectric.buildActivity(MainActivity.class).setup()) {
            MainActivity a = c.get();
            String status = a.status.getText().toString();
            assertTrue(status, status.contains("is not on the device") && status.contains("adb push"));
            assertFalse(a.send.isEnabled());
            assertFalse(a.stop.isEnabled());
            a.prompt.setText("hello");
            a.onSend(); // nothing to send to: no crash, nothing added
            assertTrue(a.transcript.getText().toString().isEmpty());
        }
    }
}
