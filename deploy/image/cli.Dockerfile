# The steadyload command (cmd/steadyload) as a container, for the steps
# that merge and compare results: the static binary and the CA
# certificates FROM scratch, built by `make image` when cmd/steadyload
# exists. Arguments are the command's, e.g. `merge -o /data/merged ...`.
FROM scratch
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY steadyload /steadyload
USER 65532:65532
ENTRYPOINT ["/steadyload"]
