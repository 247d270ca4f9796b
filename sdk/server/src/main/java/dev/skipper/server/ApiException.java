package dev.skipper.server;

/**
 * A request the server refuses, with the HTTP status and OpenAI's error fields: it is written as
 * {@code {"error": {"message", "type", "param", "code"}}} and never carries a stack trace.
 */
public final class ApiException extends Exception {
    private static final long serialVersionUID = 1L;

    private final int status;
    private final String type;
    private final String param;
    private final String code;

    /**
     * @param status HTTP status
     * @param type OpenAI's error type ({@code invalid_request_error}, {@code server_error}, ...)
     * @param param the request field at fault, or {@code null}
     * @param code a machine-readable code, or {@code null}
     * @param message one line for people
     */
    public ApiException(int status, String type, String param, String code, String message) {
        super(message);
        this.status = status;
        this.type = type;
        this.param = param == null ? null : JsonInput.clip(param, 120); // a fuzzed key may be huge
        this.code = code;
    }

    /**
     * A 400 naming the field at fault.
     *
     * @param param the field
     * @param message what is wrong
     * @return the exception
     */
    static ApiException badRequest(String param, String message) {
        return new ApiException(400, "invalid_request_error", param, null, message);
    }

    /** @return the HTTP status */
    public int status() {
        return status;
    }

    /** @return OpenAI's error type */
    public String type() {
        return type;
    }

    /** @return the request field at fault, or {@code null} */
    public String param() {
        return param;
    }

    /** @return the machine-readable code, or {@code null} */
    public String code() {
        return code;
    }
}
