package dev.skipper.android;

import android.app.Activity;
import android.os.Bundle;
import android.text.method.ScrollingMovementMethod;
import android.view.View;
import android.widget.Button;
import android.widget.EditText;
import android.widget.LinearLayout;
import android.widget.TextView;
import dev.skipper.api.GenerationResult;
import java.util.Locale;

/**
 * A chat screen built in code (no layout resources): the conversation, a prompt field, Send,
 * Stop and New chat. Generation runs in the app's {@link GenerationController}; this Activity only
 * shows what it reports.
 */
public class MainActivity extends Activity implements GenerationController.Listener {
    TextView transcript;
    TextView status;
    EditText prompt;
    Button send;
    Button stop;
    Button reset;
    private GenerationController controller;

    @Override
    protected void onCreate(Bundle saved) {
        super.onCreate(saved);
        LinearLayout root = new LinearLayout(this);
        root.setOrientation(LinearLayout.VERTICAL);
        int pad = (int) (12 * getResources().getDisplayMetrics().density);
        root.setPadding(pad, pad, pad, pad);
        transcript = new TextView(this);
        transcript.setMovementMethod(new ScrollingMovementMethod());
        transcript.setTextIsSelectable(true);
        status = new TextView(this);
        prompt = new EditText(this);
        prompt.setHint("Ask something");
        LinearLayout buttons = new LinearLayout(this);
        send = button("Send", v -> onSend());
        stop = button("Stop", v -> controller.cancel());
        reset = button("New chat", v -> {
            controller.reset();
            transcript.setText("");
        });
        buttons.addView(send);
        buttons.addView(stop);
        buttons.addView(reset);
        root.addView(transcript, new LinearLayout.LayoutParams(LinearLayout.LayoutParams.MATCH_PARENT, 0, 1f));
        root.addView(status);
        root.addView(prompt);
        root.addView(buttons);
        setContentView(root);
        if (saved != null) {
            transcript.setText(saved.getCharSequence("transcript", ""));
        }
    }

    private Button button(String label, View.OnClickListener click) {
        Button b = new Button(this);
        b.setText(label);
        b.setOnClickListener(click);
        return b;
    }

    @Override
    protected void onStart() {
        super.onStart();
        SkipperApp app = (SkipperApp) getApplication();
        controller = app.controller();
        if (controller == null) {
            status.setText(app.problem());
            app.retry(); // look again next time the screen starts (after adb push)
        } else {
            controller.setListener(this);
            status.setText(controller.isRunning() ? "generating..." : "ready");
        }
        updateButtons();
    }

    @Override
    protected void onStop() {
        if (controller != null) {
            controller.setListener(null);
        }
        super.onStop();
    }

    @Override
    protected void onSaveInstanceState(Bundle out) {
        super.onSaveInstanceState(out);
        out.putCharSequence("transcript", transcript.getText());
    }

    void onSend() {
        String text = prompt.getText().toString().trim();
        if (text.isEmpty() || controller == null || !controller.send(text)) {
            return;
        }
        prompt.setText("");
        transcript.append((transcript.length() > 0 ? "\n\n" : "") + "you: " + text + "\nbot: ");
        status.setText("generating...");
        updateButtons();
    }

    @Override
    public void onText(String piece) {
        transcript.append(piece);
    }

    @Override
    public void onDone(GenerationResult r) {
        status.setText(String.format(Locale.ROOT, "%s: %d tokens, %.1f tok/s", GenerationController.cancelled(r)
                ? "stopped" : "done", r.stats().generatedTokens(), r.stats().decodeTokensPerSecond()));
        updateButtons();
    }

    @Override
    public void onError(String message) {
        status.setText("error: " + message);
        updateButtons();
    }

    private void updateButtons() {
        boolean ready = controller != null;
        boolean busy = ready && controller.isRunning();
        send.setEnabled(ready && !busy);
        stop.setEnabled(busy);
        reset.setEnabled(ready && !busy);
    }
}
