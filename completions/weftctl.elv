
use builtin;
use str;

set edit:completion:arg-completer[weftctl] = {|@words|
    fn spaces {|n|
        builtin:repeat $n ' ' | str:join ''
    }
    fn cand {|text desc|
        edit:complex-candidate $text &display=$text' '(spaces (- 14 (wcswidth $text)))$desc
    }
    var command = 'weftctl'
    for word $words[1..-1] {
        if (str:has-prefix $word '-') {
            break
        }
        set command = $command';'$word
    }
    var completions = [
        &'weftctl'= {
            cand -n 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes'
            cand --nodes 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes'
            cand -e 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)'
            cand --endpoints 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)'
            cand --context 'Context to use instead of the client config''s current one'
            cand --weftconfig 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]'
            cand --talosconfig 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]'
            cand --timeout 'Connection and request timeout'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
            cand gen 'Generate secrets and configuration files'
            cand validate 'Validate a machine config'
            cand version 'Print the version'
            cand completion 'Output shell completion code for the given shell'
            cand get 'Get a specific resource or list of resources'
            cand g 'Get a specific resource or list of resources'
            cand apply-config 'Apply a new machine config to nodes, immediately (no restart)'
            cand config 'Manage the client config (contexts, credentials)'
            cand cluster 'Create or destroy a local mesh of nodes in network namespaces (needs root)'
            cand health 'Check that every node is healthy: API, KubeSpan identity, discovery, every peer up'
            cand leave 'Withdraw nodes from the cluster''s discovery services (needs os:admin)'
            cand external-peer 'Publish WireGuard devices that run no weftd as cluster members (needs os:admin)'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'weftctl;gen'= {
            cand -n 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes'
            cand --nodes 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes'
            cand -e 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)'
            cand --endpoints 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)'
            cand --context 'Context to use instead of the client config''s current one'
            cand --weftconfig 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]'
            cand --talosconfig 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]'
            cand --timeout 'Connection and request timeout'
            cand -f 'Overwrite existing files'
            cand --force 'Overwrite existing files'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
            cand secrets 'Generate a secrets bundle: cluster id and secret, and the node API CA'
            cand config 'Generate machine configs and a client config for a new cluster'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'weftctl;gen;secrets'= {
            cand -o 'Path of the secrets bundle to write'
            cand --output-file 'Path of the secrets bundle to write'
            cand -n 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes'
            cand --nodes 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes'
            cand -e 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)'
            cand --endpoints 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)'
            cand --context 'Context to use instead of the client config''s current one'
            cand --weftconfig 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]'
            cand --talosconfig 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]'
            cand --timeout 'Connection and request timeout'
            cand -f 'Overwrite existing files'
            cand --force 'Overwrite existing files'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'weftctl;gen;config'= {
            cand --with-cluster-discovery 'Enable cluster discovery'
            cand --with-secrets 'Use the secrets bundle at this path instead of generating new secrets'
            cand --discovery-endpoint 'Discovery service URL (repeatable); the first replaces the default https://discovery.talos.dev/, the others are added'
            cand -o 'Output: a directory, a file (with one output type), or - for stdout (with one output type)'
            cand --output 'Output: a directory, a file (with one output type), or - for stdout (with one output type)'
            cand -t 'Types of output to generate'
            cand --output-types 'Types of output to generate'
            cand --config-patch 'Patch applied to every machine config: @file or inline YAML (repeatable)'
            cand --config-patch-control-plane 'Patch applied to the controlplane config only (repeatable)'
            cand --config-patch-worker 'Patch applied to the worker config only (repeatable)'
            cand --additional-sans 'Extra names and addresses of the node API certificate, comma-separated (machine.certSANs)'
            cand --with-docs 'talosctl''s commented field documentation in the machine configs; accepted and ignored (Weft''s configs are short, `weftctl validate` explains every field it refuses)'
            cand --with-examples 'talosctl''s commented examples in the machine configs; accepted and ignored'
            cand -n 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes'
            cand --nodes 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes'
            cand -e 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)'
            cand --endpoints 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)'
            cand --context 'Context to use instead of the client config''s current one'
            cand --weftconfig 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]'
            cand --talosconfig 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]'
            cand --timeout 'Connection and request timeout'
            cand --with-kubespan 'Enable KubeSpan (and cluster discovery)'
            cand -f 'Overwrite existing files'
            cand --force 'Overwrite existing files'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'weftctl;gen;help'= {
            cand secrets 'Generate a secrets bundle: cluster id and secret, and the node API CA'
            cand config 'Generate machine configs and a client config for a new cluster'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'weftctl;gen;help;secrets'= {
        }
        &'weftctl;gen;help;config'= {
        }
        &'weftctl;gen;help;help'= {
        }
        &'weftctl;validate'= {
            cand -c 'Path of the machine config to validate'
            cand --config 'Path of the machine config to validate'
            cand -m 'talosctl''s platform mode (metal, cloud, container); accepted and ignored: Weft''s config does not depend on the platform'
            cand --mode 'talosctl''s platform mode (metal, cloud, container); accepted and ignored: Weft''s config does not depend on the platform'
            cand -n 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes'
            cand --nodes 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes'
            cand -e 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)'
            cand --endpoints 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)'
            cand --context 'Context to use instead of the client config''s current one'
            cand --weftconfig 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]'
            cand --talosconfig 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]'
            cand --timeout 'Connection and request timeout'
            cand --strict 'Fail on warnings too'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'weftctl;version'= {
            cand -n 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes'
            cand --nodes 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes'
            cand -e 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)'
            cand --endpoints 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)'
            cand --context 'Context to use instead of the client config''s current one'
            cand --weftconfig 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]'
            cand --talosconfig 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]'
            cand --timeout 'Connection and request timeout'
            cand --short 'Print only the version number'
            cand --client 'Print the client''s version only, without asking any node'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'weftctl;completion'= {
            cand -n 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes'
            cand --nodes 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes'
            cand -e 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)'
            cand --endpoints 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)'
            cand --context 'Context to use instead of the client config''s current one'
            cand --weftconfig 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]'
            cand --talosconfig 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]'
            cand --timeout 'Connection and request timeout'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'weftctl;get'= {
            cand --namespace 'Namespace [default: the type''s own]'
            cand -o 'Output format: table, yaml, json or jsonpath=EXPR'
            cand --output 'Output format: table, yaml, json or jsonpath=EXPR'
            cand -n 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes'
            cand --nodes 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes'
            cand -e 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)'
            cand --endpoints 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)'
            cand --context 'Context to use instead of the client config''s current one'
            cand --weftconfig 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]'
            cand --talosconfig 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]'
            cand --timeout 'Connection and request timeout'
            cand -w 'Watch for changes'
            cand --watch 'Watch for changes'
            cand -i 'talosctl''s maintenance-mode flag; refused (weftd has no maintenance mode, every call is authenticated)'
            cand --insecure 'talosctl''s maintenance-mode flag; refused (weftd has no maintenance mode, every call is authenticated)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'weftctl;g'= {
            cand --namespace 'Namespace [default: the type''s own]'
            cand -o 'Output format: table, yaml, json or jsonpath=EXPR'
            cand --output 'Output format: table, yaml, json or jsonpath=EXPR'
            cand -n 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes'
            cand --nodes 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes'
            cand -e 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)'
            cand --endpoints 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)'
            cand --context 'Context to use instead of the client config''s current one'
            cand --weftconfig 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]'
            cand --talosconfig 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]'
            cand --timeout 'Connection and request timeout'
            cand -w 'Watch for changes'
            cand --watch 'Watch for changes'
            cand -i 'talosctl''s maintenance-mode flag; refused (weftd has no maintenance mode, every call is authenticated)'
            cand --insecure 'talosctl''s maintenance-mode flag; refused (weftd has no maintenance mode, every call is authenticated)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'weftctl;apply-config'= {
            cand -f 'The machine config to apply'
            cand --file 'The machine config to apply'
            cand -m 'talosctl''s apply mode: weftd applies every config live, so auto, no-reboot and reboot all apply it now; staged and try are refused (weftd keeps no staged or trial config)'
            cand --mode 'talosctl''s apply mode: weftd applies every config live, so auto, no-reboot and reboot all apply it now; staged and try are refused (weftd keeps no staged or trial config)'
            cand -n 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes'
            cand --nodes 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes'
            cand -e 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)'
            cand --endpoints 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)'
            cand --context 'Context to use instead of the client config''s current one'
            cand --weftconfig 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]'
            cand --talosconfig 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]'
            cand --timeout 'Connection and request timeout'
            cand --dry-run 'Check the config on the node without applying it'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'weftctl;config'= {
            cand -n 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes'
            cand --nodes 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes'
            cand -e 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)'
            cand --endpoints 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)'
            cand --context 'Context to use instead of the client config''s current one'
            cand --weftconfig 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]'
            cand --talosconfig 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]'
            cand --timeout 'Connection and request timeout'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
            cand new 'Issue a client certificate on a node and write a client config around it (needs os:admin)'
            cand contexts 'List the contexts of the client config'
            cand use-context 'Make a context the current one'
            cand context 'Make a context the current one'
            cand merge 'Merge a client config (e.g. from gen config) into the default one'
            cand remove 'Remove contexts from the client config'
            cand info 'Show the current context: nodes, endpoints, roles, certificate expiry'
            cand endpoint 'Set the current context''s endpoints'
            cand endpoints 'Set the current context''s endpoints'
            cand node 'Set the current context''s nodes'
            cand nodes 'Set the current context''s nodes'
            cand add 'Add a context from CA, client certificate and key files (PEM)'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'weftctl;config;new'= {
            cand --roles 'Roles of the new certificate, comma-separated (os:admin, os:reader)'
            cand --crt-ttl 'Validity of the certificate'
            cand -n 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes'
            cand --nodes 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes'
            cand -e 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)'
            cand --endpoints 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)'
            cand --context 'Context to use instead of the client config''s current one'
            cand --weftconfig 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]'
            cand --talosconfig 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]'
            cand --timeout 'Connection and request timeout'
            cand -f 'Overwrite an existing file'
            cand --force 'Overwrite an existing file'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'weftctl;config;contexts'= {
            cand -n 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes'
            cand --nodes 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes'
            cand -e 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)'
            cand --endpoints 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)'
            cand --context 'Context to use instead of the client config''s current one'
            cand --weftconfig 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]'
            cand --talosconfig 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]'
            cand --timeout 'Connection and request timeout'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'weftctl;config;use-context'= {
            cand -n 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes'
            cand --nodes 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes'
            cand -e 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)'
            cand --endpoints 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)'
            cand --context 'Context to use instead of the client config''s current one'
            cand --weftconfig 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]'
            cand --talosconfig 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]'
            cand --timeout 'Connection and request timeout'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'weftctl;config;context'= {
            cand -n 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes'
            cand --nodes 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes'
            cand -e 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)'
            cand --endpoints 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)'
            cand --context 'Context to use instead of the client config''s current one'
            cand --weftconfig 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]'
            cand --talosconfig 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]'
            cand --timeout 'Connection and request timeout'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'weftctl;config;merge'= {
            cand -n 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes'
            cand --nodes 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes'
            cand -e 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)'
            cand --endpoints 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)'
            cand --context 'Context to use instead of the client config''s current one'
            cand --weftconfig 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]'
            cand --talosconfig 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]'
            cand --timeout 'Connection and request timeout'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'weftctl;config;remove'= {
            cand -n 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes'
            cand --nodes 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes'
            cand -e 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)'
            cand --endpoints 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)'
            cand --context 'Context to use instead of the client config''s current one'
            cand --weftconfig 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]'
            cand --talosconfig 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]'
            cand --timeout 'Connection and request timeout'
            cand -y 'Do not ask for confirmation (it is asked only at a terminal)'
            cand --noconfirm 'Do not ask for confirmation (it is asked only at a terminal)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'weftctl;config;info'= {
            cand -n 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes'
            cand --nodes 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes'
            cand -e 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)'
            cand --endpoints 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)'
            cand --context 'Context to use instead of the client config''s current one'
            cand --weftconfig 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]'
            cand --talosconfig 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]'
            cand --timeout 'Connection and request timeout'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'weftctl;config;endpoint'= {
            cand -n 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes'
            cand --nodes 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes'
            cand -e 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)'
            cand --endpoints 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)'
            cand --context 'Context to use instead of the client config''s current one'
            cand --weftconfig 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]'
            cand --talosconfig 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]'
            cand --timeout 'Connection and request timeout'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'weftctl;config;endpoints'= {
            cand -n 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes'
            cand --nodes 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes'
            cand -e 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)'
            cand --endpoints 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)'
            cand --context 'Context to use instead of the client config''s current one'
            cand --weftconfig 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]'
            cand --talosconfig 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]'
            cand --timeout 'Connection and request timeout'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'weftctl;config;node'= {
            cand -n 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes'
            cand --nodes 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes'
            cand -e 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)'
            cand --endpoints 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)'
            cand --context 'Context to use instead of the client config''s current one'
            cand --weftconfig 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]'
            cand --talosconfig 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]'
            cand --timeout 'Connection and request timeout'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'weftctl;config;nodes'= {
            cand -n 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes'
            cand --nodes 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes'
            cand -e 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)'
            cand --endpoints 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)'
            cand --context 'Context to use instead of the client config''s current one'
            cand --weftconfig 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]'
            cand --talosconfig 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]'
            cand --timeout 'Connection and request timeout'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'weftctl;config;add'= {
            cand --ca 'The CA certificate file (PEM)'
            cand --crt 'The client certificate file (PEM)'
            cand --key 'The client key file (PEM)'
            cand -n 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes'
            cand --nodes 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes'
            cand -e 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)'
            cand --endpoints 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)'
            cand --context 'Context to use instead of the client config''s current one'
            cand --weftconfig 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]'
            cand --talosconfig 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]'
            cand --timeout 'Connection and request timeout'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'weftctl;config;help'= {
            cand new 'Issue a client certificate on a node and write a client config around it (needs os:admin)'
            cand contexts 'List the contexts of the client config'
            cand use-context 'Make a context the current one'
            cand merge 'Merge a client config (e.g. from gen config) into the default one'
            cand remove 'Remove contexts from the client config'
            cand info 'Show the current context: nodes, endpoints, roles, certificate expiry'
            cand endpoint 'Set the current context''s endpoints'
            cand node 'Set the current context''s nodes'
            cand add 'Add a context from CA, client certificate and key files (PEM)'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'weftctl;config;help;new'= {
        }
        &'weftctl;config;help;contexts'= {
        }
        &'weftctl;config;help;use-context'= {
        }
        &'weftctl;config;help;merge'= {
        }
        &'weftctl;config;help;remove'= {
        }
        &'weftctl;config;help;info'= {
        }
        &'weftctl;config;help;endpoint'= {
        }
        &'weftctl;config;help;node'= {
        }
        &'weftctl;config;help;add'= {
        }
        &'weftctl;config;help;help'= {
        }
        &'weftctl;cluster'= {
            cand -n 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes'
            cand --nodes 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes'
            cand -e 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)'
            cand --endpoints 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)'
            cand --context 'Context to use instead of the client config''s current one'
            cand --weftconfig 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]'
            cand --talosconfig 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]'
            cand --timeout 'Connection and request timeout'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
            cand create 'Build a local mesh: a network namespace per node on a bridge, a discovery service, weftd on every node; wait until it is healthy (as `weftctl health`); print the peer statuses'
            cand destroy 'Remove a local mesh: processes, namespaces, links and files (also after a crash)'
            cand chaos 'Change the network impairments of a running local mesh: loss, bandwidth, partitions'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'weftctl;cluster;create'= {
            cand --name 'Cluster name (also the client context''s name)'
            cand --workers 'Number of worker nodes besides the control-plane node (as talosctl''s `--workers`; -n overrides it)'
            cand --discovery 'Discovery service: `embedded` (a weft-discovery started for the cluster) or a URL'
            cand --cidr 'IPv4 network for the nodes; the host side takes the first address'
            cand --state 'Where cluster state lives [default: ~/.weft/clusters]'
            cand --wait-timeout 'How long to wait for the mesh to be healthy (the checks of `weftctl health`)'
            cand --with-network-packet-loss 'Random packet loss on every node''s link, each direction, as a fraction: 0.2 = 20 %'
            cand --with-network-bandwidth 'Bandwidth limit of every node''s link, each direction, in kbit/s'
            cand --with-network-latency 'Latency on every node''s link (needs the kernel''s netem, sch_netem)'
            cand --with-network-jitter 'Jitter of that latency (needs sch_netem)'
            cand --with-network-packet-reorder 'Reordered packets, as a fraction (needs sch_netem and a latency)'
            cand --with-network-packet-corrupt 'Corrupted packets, as a fraction (needs sch_netem)'
            cand -n 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes'
            cand --nodes 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes'
            cand -e 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)'
            cand --endpoints 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)'
            cand --context 'Context to use instead of the client config''s current one'
            cand --weftconfig 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]'
            cand --talosconfig 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]'
            cand --timeout 'Connection and request timeout'
            cand --with-network-chaos 'Enable the network chaos flags (as in talosctl, they are refused without it)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'weftctl;cluster;destroy'= {
            cand --name 'Cluster name'
            cand --state 'Where cluster state lives [default: ~/.weft/clusters]'
            cand -n 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes'
            cand --nodes 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes'
            cand -e 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)'
            cand --endpoints 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)'
            cand --context 'Context to use instead of the client config''s current one'
            cand --weftconfig 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]'
            cand --talosconfig 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]'
            cand --timeout 'Connection and request timeout'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'weftctl;cluster;chaos'= {
            cand --name 'Cluster name'
            cand --state 'Where cluster state lives [default: ~/.weft/clusters]'
            cand --node 'The node --loss, --bandwidth and --clear apply to, by index (i of weft-<name>-<i>) [default: every node]'
            cand --loss 'Random loss on the node''s link, each direction, in percent (0 removes it)'
            cand --bandwidth 'Bandwidth limit of the node''s link, each direction, in kbit/s (0 removes it)'
            cand --partition 'Drop everything between nodes I and J, both directions; both still reach the others and the host (repeatable)'
            cand --heal 'Undo --partition I,J (repeatable)'
            cand -n 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes'
            cand --nodes 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes'
            cand -e 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)'
            cand --endpoints 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)'
            cand --context 'Context to use instead of the client config''s current one'
            cand --weftconfig 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]'
            cand --talosconfig 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]'
            cand --timeout 'Connection and request timeout'
            cand --clear 'Remove every impairment of --node, its partitions included, or of every node'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'weftctl;cluster;help'= {
            cand create 'Build a local mesh: a network namespace per node on a bridge, a discovery service, weftd on every node; wait until it is healthy (as `weftctl health`); print the peer statuses'
            cand destroy 'Remove a local mesh: processes, namespaces, links and files (also after a crash)'
            cand chaos 'Change the network impairments of a running local mesh: loss, bandwidth, partitions'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'weftctl;cluster;help;create'= {
        }
        &'weftctl;cluster;help;destroy'= {
        }
        &'weftctl;cluster;help;chaos'= {
        }
        &'weftctl;cluster;help;help'= {
        }
        &'weftctl;health'= {
            cand -o 'Output format'
            cand --output 'Output format'
            cand --wait-timeout 'Re-check until healthy or this long has passed [default: check once]'
            cand -n 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes'
            cand --nodes 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes'
            cand -e 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)'
            cand --endpoints 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)'
            cand --context 'Context to use instead of the client config''s current one'
            cand --weftconfig 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]'
            cand --talosconfig 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]'
            cand --timeout 'Connection and request timeout'
            cand --matrix 'Print the node × node grid of peer states instead of the checks'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'weftctl;leave'= {
            cand -n 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes'
            cand --nodes 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes'
            cand -e 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)'
            cand --endpoints 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)'
            cand --context 'Context to use instead of the client config''s current one'
            cand --weftconfig 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]'
            cand --talosconfig 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]'
            cand --timeout 'Connection and request timeout'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'weftctl;external-peer'= {
            cand -n 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes'
            cand --nodes 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes'
            cand -e 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)'
            cand --endpoints 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)'
            cand --context 'Context to use instead of the client config''s current one'
            cand --weftconfig 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]'
            cand --talosconfig 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]'
            cand --timeout 'Connection and request timeout'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
            cand add 'Publish a WireGuard device as a member (adding an existing name replaces it)'
            cand remove 'Stop publishing an external peer; every node drops it'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'weftctl;external-peer;add'= {
            cand --public-key 'Its WireGuard public key (as `wg pubkey` prints it)'
            cand --endpoint 'Where it listens; without one it must call the nodes first'
            cand --address 'Address or network routed to it, its tunnel address included (repeatable or comma-separated); a single address in the KubeSpan subnet becomes its KubeSpan address'
            cand -n 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes'
            cand --nodes 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes'
            cand -e 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)'
            cand --endpoints 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)'
            cand --context 'Context to use instead of the client config''s current one'
            cand --weftconfig 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]'
            cand --talosconfig 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]'
            cand --timeout 'Connection and request timeout'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'weftctl;external-peer;remove'= {
            cand -n 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes'
            cand --nodes 'Target nodes, comma-separated (host or host:port, default port 50000), dialed directly; for `cluster create`, one number: the total number of nodes'
            cand -e 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)'
            cand --endpoints 'Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with nodes, they are ignored)'
            cand --context 'Context to use instead of the client config''s current one'
            cand --weftconfig 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]'
            cand --talosconfig 'Client config file [default: $TALOSCONFIG, else ~/.weft/config]'
            cand --timeout 'Connection and request timeout'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'weftctl;external-peer;help'= {
            cand add 'Publish a WireGuard device as a member (adding an existing name replaces it)'
            cand remove 'Stop publishing an external peer; every node drops it'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'weftctl;external-peer;help;add'= {
        }
        &'weftctl;external-peer;help;remove'= {
        }
        &'weftctl;external-peer;help;help'= {
        }
        &'weftctl;help'= {
            cand gen 'Generate secrets and configuration files'
            cand validate 'Validate a machine config'
            cand version 'Print the version'
            cand completion 'Output shell completion code for the given shell'
            cand get 'Get a specific resource or list of resources'
            cand apply-config 'Apply a new machine config to nodes, immediately (no restart)'
            cand config 'Manage the client config (contexts, credentials)'
            cand cluster 'Create or destroy a local mesh of nodes in network namespaces (needs root)'
            cand health 'Check that every node is healthy: API, KubeSpan identity, discovery, every peer up'
            cand leave 'Withdraw nodes from the cluster''s discovery services (needs os:admin)'
            cand external-peer 'Publish WireGuard devices that run no weftd as cluster members (needs os:admin)'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'weftctl;help;gen'= {
            cand secrets 'Generate a secrets bundle: cluster id and secret, and the node API CA'
            cand config 'Generate machine configs and a client config for a new cluster'
        }
        &'weftctl;help;gen;secrets'= {
        }
        &'weftctl;help;gen;config'= {
        }
        &'weftctl;help;validate'= {
        }
        &'weftctl;help;version'= {
        }
        &'weftctl;help;completion'= {
        }
        &'weftctl;help;get'= {
        }
        &'weftctl;help;apply-config'= {
        }
        &'weftctl;help;config'= {
            cand new 'Issue a client certificate on a node and write a client config around it (needs os:admin)'
            cand contexts 'List the contexts of the client config'
            cand use-context 'Make a context the current one'
            cand merge 'Merge a client config (e.g. from gen config) into the default one'
            cand remove 'Remove contexts from the client config'
            cand info 'Show the current context: nodes, endpoints, roles, certificate expiry'
            cand endpoint 'Set the current context''s endpoints'
            cand node 'Set the current context''s nodes'
            cand add 'Add a context from CA, client certificate and key files (PEM)'
        }
        &'weftctl;help;config;new'= {
        }
        &'weftctl;help;config;contexts'= {
        }
        &'weftctl;help;config;use-context'= {
        }
        &'weftctl;help;config;merge'= {
        }
        &'weftctl;help;config;remove'= {
        }
        &'weftctl;help;config;info'= {
        }
        &'weftctl;help;config;endpoint'= {
        }
        &'weftctl;help;config;node'= {
        }
        &'weftctl;help;config;add'= {
        }
        &'weftctl;help;cluster'= {
            cand create 'Build a local mesh: a network namespace per node on a bridge, a discovery service, weftd on every node; wait until it is healthy (as `weftctl health`); print the peer statuses'
            cand destroy 'Remove a local mesh: processes, namespaces, links and files (also after a crash)'
            cand chaos 'Change the network impairments of a running local mesh: loss, bandwidth, partitions'
        }
        &'weftctl;help;cluster;create'= {
        }
        &'weftctl;help;cluster;destroy'= {
        }
        &'weftctl;help;cluster;chaos'= {
        }
        &'weftctl;help;health'= {
        }
        &'weftctl;help;leave'= {
        }
        &'weftctl;help;external-peer'= {
            cand add 'Publish a WireGuard device as a member (adding an existing name replaces it)'
            cand remove 'Stop publishing an external peer; every node drops it'
        }
        &'weftctl;help;external-peer;add'= {
        }
        &'weftctl;help;external-peer;remove'= {
        }
        &'weftctl;help;help'= {
        }
    ]
    $completions[$command]
}
