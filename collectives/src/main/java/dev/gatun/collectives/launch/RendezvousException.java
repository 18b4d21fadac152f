package dev.gatun.collectives.launch;

/**
 * A rendezvous-store operation failed: the server could not be reached or bound, refused this job token, broke the
 * protocol, or closed the connection. The message names the server's address, the operation and the key. A client
 * that threw one is closed.
 */
public class RendezvousException extends RuntimeException {
    public RendezvousException(String message) {
        super(message);
    }

    public RendezvousException(String message, Throwable cause) {
        super(message, cause);
    }
}
