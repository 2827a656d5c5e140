package realserver

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// A flavor is what differs between the servers: where the binary comes
// from, how its configuration is written and which signals it takes.
type flavor struct {
	bin, pkg       string
	stockKeepAlive time.Duration
	upstream       bool // SlowPath is proxied to an upstream in the test process
	countsFrom0    bool // the log's request number on the connection starts at 0
	restart        syscall.Signal
	flushLog       syscall.Signal // makes the server write its buffered access log; 0: it does not buffer
	// write writes the configuration and returns the command's arguments
	// and its environment beyond the test's.
	write func(st *setup) (args, env []string, err error)
}

func flavors(name string) (flavor, bool) {
	switch name {
	case Apache:
		return flavor{bin: Apache, pkg: "apache2", stockKeepAlive: 5 * time.Second, countsFrom0: true,
			restart: sigUSR1, write: writeApache}, true
	case Nginx:
		return flavor{bin: Nginx, pkg: "nginx", stockKeepAlive: 75 * time.Second, upstream: true,
			restart: sigHUP, write: writeNginx}, true
	case Lighttpd:
		return flavor{bin: Lighttpd, pkg: "lighttpd", stockKeepAlive: 5 * time.Second,
			restart: sigUSR1, flushLog: sigHUP, write: writeLighttpd}, true
	}
	return flavor{}, false
}

// setup is one server's directory and settings.
type setup struct {
	dir         string
	port        int
	cfg         Config
	upstream    string // host:port of SlowPath's upstream, for nginx
	user, group string // the workers' user when the test runs as root; "" otherwise
	uid, gid    int
}

func (st *setup) path(elem ...string) string {
	return filepath.Join(append([]string{st.dir}, elem...)...)
}

// slowScript is SlowPath as a CGI script: it reads a POST's body, waits
// and answers.
const slowScript = `#!/bin/sh
if [ "$REQUEST_METHOD" = POST ]; then head -c "${CONTENT_LENGTH:-0}" >/dev/null; fi
sleep %g
printf 'Content-Type: text/plain\r\n\r\nslow\n'
`

// files writes the documents, the CGI script and the directories every
// server needs.
func (st *setup) files() error {
	for _, d := range []string{"www", "cgi", "run", "tmp"} {
		if err := os.Mkdir(st.path(d), 0o755); err != nil {
			return err
		}
	}
	if err := os.WriteFile(st.path("www", StaticPath), []byte("static\n"), 0o644); err != nil {
		return err
	}
	script := fmt.Sprintf(slowScript, SlowDelay.Seconds())
	return os.WriteFile(st.path("cgi", "slow"), []byte(script), 0o755)
}

// apacheModules returns the modules Debian's apache2 package enables, as
// in /etc/apache2/mods-enabled after installation, and mod_cgid for
// SlowPath. Their .load and .conf files are read from mods-available, as
// shipped.
func apacheModules() []string {
	return []string{
		"mpm_event", "access_compat", "alias", "auth_basic", "authn_core", "authn_file",
		"authz_core", "authz_host", "authz_user", "autoindex", "deflate", "dir", "env",
		"filter", "mime", "negotiation", "reqtimeout", "setenvif", "status", "cgid",
	}
}

// apacheConf follows Debian's apache2.conf, ports.conf and
// sites-available/000-default.conf, with the paths in the test's
// directory.
const apacheConf = `# apache2.conf as Debian ships it, in a test's directory.
DefaultRuntimeDir ${APACHE_RUN_DIR}
PidFile ${APACHE_PID_FILE}
Timeout 300
KeepAlive {{keepAliveOn}}
MaxKeepAliveRequests {{maxRequests}}
KeepAliveTimeout {{keepAlive}}
{{user}}
HostnameLookups Off
ErrorLog ${APACHE_LOG_DIR}/error.log
LogLevel warn
{{modules}}
ServerName 127.0.0.1
Listen 127.0.0.1:{{port}}
<Directory />
	Options FollowSymLinks
	AllowOverride None
	Require all denied
</Directory>
<Directory {{dir}}/www>
	Options Indexes FollowSymLinks
	AllowOverride None
	Require all granted
</Directory>
<Directory {{dir}}/cgi>
	Require all granted
</Directory>
AccessFileName .htaccess
<FilesMatch "^\.ht">
	Require all denied
</FilesMatch>
LogFormat "%{remote}p %>s %k %{X-Loadtest-Run}i %{traceparent}i %r" realserver
<VirtualHost 127.0.0.1:{{port}}>
	ServerAdmin webmaster@localhost
	DocumentRoot {{dir}}/www
	ScriptAlias {{slow}} {{dir}}/cgi/slow
	CustomLog ${APACHE_LOG_DIR}/access.log realserver
</VirtualHost>
`

func writeApache(st *setup) (args, env []string, err error) {
	var mods []string
	for _, m := range apacheModules() {
		mods = append(mods, "Include /etc/apache2/mods-available/"+m+".load")
	}
	for _, m := range apacheModules() {
		conf := "/etc/apache2/mods-available/" + m + ".conf"
		if _, err := os.Stat(conf); err == nil {
			mods = append(mods, "Include "+conf)
		}
	}
	user := ""
	if st.user != "" {
		user = "User " + st.user + "\nGroup " + st.group
	}
	keepAlive, maxRequests, on := "5", "100", "On"
	if d := st.cfg.KeepAliveTimeout; d > 0 {
		keepAlive = strconv.FormatInt(d.Milliseconds(), 10) + "ms"
	}
	// MaxKeepAliveRequests counts the requests after the first: n
	// requests a connection is n-1, and one is no keep-alive at all (0
	// would be no limit).
	switch n := st.cfg.MaxKeepAliveRequests; {
	case n == 1:
		on = "Off"
	case n > 1:
		maxRequests = strconv.Itoa(n - 1)
	}
	conf := fill(apacheConf, map[string]string{
		"maxRequests": maxRequests, "keepAlive": keepAlive, "keepAliveOn": on, "user": user,
		"modules": strings.Join(mods, "\n"), "port": strconv.Itoa(st.port),
		"dir": st.dir, "slow": SlowPath,
	})
	if err := os.MkdirAll(st.path("run", "socks"), 0o755); err != nil {
		return nil, nil, err
	}
	path := st.path("apache2.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		return nil, nil, err
	}
	// The variables of /etc/apache2/envvars, which the stock files use.
	env = []string{
		"APACHE_RUN_DIR=" + st.path("run"),
		"APACHE_PID_FILE=" + st.path("run", "apache2.pid"),
		"APACHE_LOCK_DIR=" + st.path("run"),
		"APACHE_LOG_DIR=" + st.dir,
		"APACHE_RUN_USER=" + st.user,
		"APACHE_RUN_GROUP=" + st.group,
		"LANG=C",
	}
	return []string{"-d", st.dir, "-f", path, "-DFOREGROUND"}, env, nil
}

// nginxConf follows Debian's nginx.conf and sites-available/default, with
// the paths in the test's directory and the process in the foreground.
const nginxConf = `# nginx.conf as Debian ships it, in a test's directory.
{{user}}
{{main}}
worker_processes auto;
pid {{dir}}/nginx.pid;
error_log {{dir}}/error.log;
daemon off;
events {
	worker_connections 768;
}
http {
	sendfile on;
	tcp_nopush on;
	types_hash_max_size 2048;
	include /etc/nginx/mime.types;
	default_type application/octet-stream;
	log_format realserver '$remote_port $status $connection_requests $http_x_loadtest_run $http_traceparent $request';
	access_log {{dir}}/access.log realserver;
	gzip on;
	{{keepalive}}
	client_body_temp_path {{dir}}/tmp/body;
	proxy_temp_path {{dir}}/tmp/proxy;
	fastcgi_temp_path {{dir}}/tmp/fastcgi;
	uwsgi_temp_path {{dir}}/tmp/uwsgi;
	scgi_temp_path {{dir}}/tmp/scgi;
	server {
		listen 127.0.0.1:{{port}} default_server;
		root {{dir}}/www;
		index index.html index.htm index.nginx-debian.html;
		server_name _;
		location / {
			try_files $uri $uri/ =404;
		}
		location = {{slow}} {
			proxy_pass http://{{upstream}};
		}
	}
}
`

func writeNginx(st *setup) (args, env []string, err error) {
	user := ""
	if st.user != "" {
		user = "user " + st.user + " " + st.group + ";"
	}
	var ka []string
	if d := st.cfg.KeepAliveTimeout; d > 0 {
		ka = append(ka, "keepalive_timeout "+strconv.FormatInt(d.Milliseconds(), 10)+"ms;")
	}
	if n := st.cfg.MaxKeepAliveRequests; n > 0 {
		ka = append(ka, "keepalive_requests "+strconv.Itoa(n)+";")
	}
	main := ""
	if d := st.cfg.ShutdownTimeout; d > 0 {
		main = "worker_shutdown_timeout " + strconv.FormatInt(d.Milliseconds(), 10) + "ms;"
	}
	conf := fill(nginxConf, map[string]string{
		"user": user, "main": main, "dir": st.dir, "keepalive": strings.Join(ka, "\n\t"),
		"port": strconv.Itoa(st.port), "slow": SlowPath, "upstream": st.upstream,
	})
	path := st.path("nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		return nil, nil, err
	}
	// -e: the error log before the configuration is read, which would
	// otherwise be /var/log/nginx/error.log.
	return []string{"-p", st.dir + "/", "-c", path, "-e", st.path("error.log")}, nil, nil
}

// lighttpdConf follows Debian's lighttpd.conf, with the paths in the
// test's directory, access logging (conf-available/10-accesslog.conf) and
// CGI (10-cgi.conf) for SlowPath.
const lighttpdConf = `# lighttpd.conf as Debian ships it, in a test's directory.
server.modules = (
	"mod_indexfile",
	"mod_access",
	"mod_alias",
	"mod_redirect",
	"mod_accesslog",
	"mod_cgi",
	"mod_dirlisting",
	"mod_staticfile",
)
server.document-root = "{{dir}}/www"
server.upload-dirs = ( "{{dir}}/tmp" )
server.errorlog = "{{dir}}/error.log"
server.pid-file = "{{dir}}/lighttpd.pid"
{{user}}
server.bind = "127.0.0.1"
server.port = {{port}}
server.feature-flags += ("server.h2proto" => "enable")
server.feature-flags += ("server.h2c" => "enable")
server.feature-flags += ("server.graceful-shutdown-timeout" => 5)
server.http-parseopts = (
	"header-strict" => "enable",
	"host-strict" => "enable",
	"host-normalize" => "enable",
	"url-normalize-unreserved" => "enable",
	"url-normalize-required" => "enable",
	"url-ctrls-reject" => "enable",
	"url-path-2f-decode" => "enable",
	"url-path-dotseg-remove" => "enable",
)
{{keepalive}}
index-file.names = ( "index.php", "index.html" )
url.access-deny = ( "~", ".inc" )
static-file.exclude-extensions = ( ".php", ".pl", ".fcgi" )
mimetype.assign = ( ".txt" => "text/plain", ".html" => "text/html" )
accesslog.filename = "{{dir}}/access.log"
accesslog.format = "%{remote}p %>s - %{X-Loadtest-Run}i %{traceparent}i %r"
alias.url += ( "{{slow}}" => "{{dir}}/cgi/slow" )
$HTTP["url"] == "{{slow}}" {
	cgi.assign = ( "" => "" )
}
`

func writeLighttpd(st *setup) (args, env []string, err error) {
	user := ""
	if st.user != "" {
		user = "server.username = \"" + st.user + "\"\nserver.groupname = \"" + st.group + "\""
	}
	var ka []string
	if d := st.cfg.KeepAliveTimeout; d > 0 {
		secs := int((d + time.Second - 1) / time.Second) // whole seconds, rounded up
		ka = append(ka, "server.max-keep-alive-idle = "+strconv.Itoa(secs))
	}
	// server.max-keep-alive-requests counts the requests after the
	// first, as Apache does; 0 is no keep-alive.
	if n := st.cfg.MaxKeepAliveRequests; n > 0 {
		ka = append(ka, "server.max-keep-alive-requests = "+strconv.Itoa(n-1))
	}
	conf := fill(lighttpdConf, map[string]string{
		"user": user, "dir": st.dir, "keepalive": strings.Join(ka, "\n"),
		"port": strconv.Itoa(st.port), "slow": SlowPath,
	})
	path := st.path("lighttpd.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		return nil, nil, err
	}
	return []string{"-D", "-f", path}, nil, nil
}

// fill replaces each {{key}} of text by its value.
func fill(text string, values map[string]string) string {
	pairs := make([]string, 0, 2*len(values))
	for k, v := range values {
		pairs = append(pairs, "{{"+k+"}}", v)
	}
	return strings.NewReplacer(pairs...).Replace(text)
}
