package infra

import (
	"context"
	"net"
	"net/http"
	"os"
	"strings"
	"time"
)

// dockerPingTimeout bounds the Docker engine check; an absent socket fails at once.
const dockerPingTimeout = 500 * time.Millisecond

// DockerAvailable reports whether a Docker engine answers on DOCKER_HOST (unix:// only) or the default socket.
func DockerAvailable(ctx context.Context) bool {
	sock := DockerSocket(os.Getenv("DOCKER_HOST"))
	if sock == "" {
		return false
	}
	if _, err := os.Stat(sock); err != nil {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, dockerPingTimeout)
	defer cancel()
	client := http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		},
	}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://docker/_ping", nil)
	if err != nil {
		return false
	}
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// DockerSocket returns the unix socket path the Docker client would use, or "" for a non-unix DOCKER_HOST.
func DockerSocket(dockerHost string) string {
	switch {
	case dockerHost == "":
		return "/var/run/docker.sock"
	case strings.HasPrefix(dockerHost, "unix://"):
		return strings.TrimPrefix(dockerHost, "unix://")
	default:
		return ""
	}
}
