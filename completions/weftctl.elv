
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
            cand -n 'Target nodes, comma-separated (host or host:port, default port 50000); dialed directly'
            cand --nodes 'Target nodes, comma-separated (host or host:port, default port 50000); dialed directly'
            cand -e 'Endpoints to use when no nodes are given, comma-separated'
            cand --endpoints 'Endpoints to use when no nodes are given, comma-separated'
            cand --context 'Context to use instead of the client config''s current one'
            cand --weftconfig 'Client config file [default: ~/.weft/config]'
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
            cand -n 'Target nodes, comma-separated (host or host:port, default port 50000); dialed directly'
            cand --nodes 'Target nodes, comma-separated (host or host:port, default port 50000); dialed directly'
            cand -e 'Endpoints to use when no nodes are given, comma-separated'
            cand --endpoints 'Endpoints to use when no nodes are given, comma-separated'
            cand --context 'Context to use instead of the client config''s current one'
            cand --weftconfig 'Client config file [default: ~/.weft/config]'
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
            cand -n 'Target nodes, comma-separated (host or host:port, default port 50000); dialed directly'
            cand --nodes 'Target nodes, comma-separated (host or host:port, default port 50000); dialed directly'
            cand -e 'Endpoints to use when no nodes are given, comma-separated'
            cand --endpoints 'Endpoints to use when no nodes are given, comma-separated'
            cand --context 'Context to use instead of the client config''s current one'
            cand --weftconfig 'Client config file [default: ~/.weft/config]'
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
            cand -n 'Target nodes, comma-separated (host or host:port, default port 50000); dialed directly'
            cand --nodes 'Target nodes, comma-separated (host or host:port, default port 50000); dialed directly'
            cand -e 'Endpoints to use when no nodes are given, comma-separated'
            cand --endpoints 'Endpoints to use when no nodes are given, comma-separated'
            cand --context 'Context to use instead of the client config''s current one'
            cand --weftconfig 'Client config file [default: ~/.weft/config]'
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
            cand -n 'Target nodes, comma-separated (host or host:port, default port 50000); dialed directly'
            cand --nodes 'Target nodes, comma-separated (host or host:port, default port 50000); dialed directly'
            cand -e 'Endpoints to use when no nodes are given, comma-separated'
            cand --endpoints 'Endpoints to use when no nodes are given, comma-separated'
            cand --context 'Context to use instead of the client config''s current one'
            cand --weftconfig 'Client config file [default: ~/.weft/config]'
            cand --timeout 'Connection and request timeout'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'weftctl;version'= {
            cand -n 'Target nodes, comma-separated (host or host:port, default port 50000); dialed directly'
            cand --nodes 'Target nodes, comma-separated (host or host:port, default port 50000); dialed directly'
            cand -e 'Endpoints to use when no nodes are given, comma-separated'
            cand --endpoints 'Endpoints to use when no nodes are given, comma-separated'
            cand --context 'Context to use instead of the client config''s current one'
            cand --weftconfig 'Client config file [default: ~/.weft/config]'
            cand --timeout 'Connection and request timeout'
            cand --short 'Print only the version number'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'weftctl;completion'= {
            cand -n 'Target nodes, comma-separated (host or host:port, default port 50000); dialed directly'
            cand --nodes 'Target nodes, comma-separated (host or host:port, default port 50000); dialed directly'
            cand -e 'Endpoints to use when no nodes are given, comma-separated'
            cand --endpoints 'Endpoints to use when no nodes are given, comma-separated'
            cand --context 'Context to use instead of the client config''s current one'
            cand --weftconfig 'Client config file [default: ~/.weft/config]'
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
            cand -n 'Target nodes, comma-separated (host or host:port, default port 50000); dialed directly'
            cand --nodes 'Target nodes, comma-separated (host or host:port, default port 50000); dialed directly'
            cand -e 'Endpoints to use when no nodes are given, comma-separated'
            cand --endpoints 'Endpoints to use when no nodes are given, comma-separated'
            cand --context 'Context to use instead of the client config''s current one'
            cand --weftconfig 'Client config file [default: ~/.weft/config]'
            cand --timeout 'Connection and request timeout'
            cand -w 'Watch for changes'
            cand --watch 'Watch for changes'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'weftctl;g'= {
            cand --namespace 'Namespace [default: the type''s own]'
            cand -o 'Output format: table, yaml, json or jsonpath=EXPR'
            cand --output 'Output format: table, yaml, json or jsonpath=EXPR'
            cand -n 'Target nodes, comma-separated (host or host:port, default port 50000); dialed directly'
            cand --nodes 'Target nodes, comma-separated (host or host:port, default port 50000); dialed directly'
            cand -e 'Endpoints to use when no nodes are given, comma-separated'
            cand --endpoints 'Endpoints to use when no nodes are given, comma-separated'
            cand --context 'Context to use instead of the client config''s current one'
            cand --weftconfig 'Client config file [default: ~/.weft/config]'
            cand --timeout 'Connection and request timeout'
            cand -w 'Watch for changes'
            cand --watch 'Watch for changes'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'weftctl;apply-config'= {
            cand -f 'The machine config to apply'
            cand --file 'The machine config to apply'
            cand -n 'Target nodes, comma-separated (host or host:port, default port 50000); dialed directly'
            cand --nodes 'Target nodes, comma-separated (host or host:port, default port 50000); dialed directly'
            cand -e 'Endpoints to use when no nodes are given, comma-separated'
            cand --endpoints 'Endpoints to use when no nodes are given, comma-separated'
            cand --context 'Context to use instead of the client config''s current one'
            cand --weftconfig 'Client config file [default: ~/.weft/config]'
            cand --timeout 'Connection and request timeout'
            cand --dry-run 'Check the config on the node without applying it'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'weftctl;config'= {
            cand -n 'Target nodes, comma-separated (host or host:port, default port 50000); dialed directly'
            cand --nodes 'Target nodes, comma-separated (host or host:port, default port 50000); dialed directly'
            cand -e 'Endpoints to use when no nodes are given, comma-separated'
            cand --endpoints 'Endpoints to use when no nodes are given, comma-separated'
            cand --context 'Context to use instead of the client config''s current one'
            cand --weftconfig 'Client config file [default: ~/.weft/config]'
            cand --timeout 'Connection and request timeout'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
            cand new 'Issue a client certificate on a node and write a client config around it (needs os:admin)'
            cand contexts 'List the contexts of the client config'
            cand use-context 'Make a context the current one'
            cand merge 'Merge a client config (e.g. from gen config) into the default one'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'weftctl;config;new'= {
            cand --roles 'Roles of the new certificate, comma-separated (os:admin, os:reader)'
            cand --crt-ttl 'Validity of the certificate'
            cand -n 'Target nodes, comma-separated (host or host:port, default port 50000); dialed directly'
            cand --nodes 'Target nodes, comma-separated (host or host:port, default port 50000); dialed directly'
            cand -e 'Endpoints to use when no nodes are given, comma-separated'
            cand --endpoints 'Endpoints to use when no nodes are given, comma-separated'
            cand --context 'Context to use instead of the client config''s current one'
            cand --weftconfig 'Client config file [default: ~/.weft/config]'
            cand --timeout 'Connection and request timeout'
            cand -f 'Overwrite an existing file'
            cand --force 'Overwrite an existing file'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'weftctl;config;contexts'= {
            cand -n 'Target nodes, comma-separated (host or host:port, default port 50000); dialed directly'
            cand --nodes 'Target nodes, comma-separated (host or host:port, default port 50000); dialed directly'
            cand -e 'Endpoints to use when no nodes are given, comma-separated'
            cand --endpoints 'Endpoints to use when no nodes are given, comma-separated'
            cand --context 'Context to use instead of the client config''s current one'
            cand --weftconfig 'Client config file [default: ~/.weft/config]'
            cand --timeout 'Connection and request timeout'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'weftctl;config;use-context'= {
            cand -n 'Target nodes, comma-separated (host or host:port, default port 50000); dialed directly'
            cand --nodes 'Target nodes, comma-separated (host or host:port, default port 50000); dialed directly'
            cand -e 'Endpoints to use when no nodes are given, comma-separated'
            cand --endpoints 'Endpoints to use when no nodes are given, comma-separated'
            cand --context 'Context to use instead of the client config''s current one'
            cand --weftconfig 'Client config file [default: ~/.weft/config]'
            cand --timeout 'Connection and request timeout'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'weftctl;config;merge'= {
            cand -n 'Target nodes, comma-separated (host or host:port, default port 50000); dialed directly'
            cand --nodes 'Target nodes, comma-separated (host or host:port, default port 50000); dialed directly'
            cand -e 'Endpoints to use when no nodes are given, comma-separated'
            cand --endpoints 'Endpoints to use when no nodes are given, comma-separated'
            cand --context 'Context to use instead of the client config''s current one'
            cand --weftconfig 'Client config file [default: ~/.weft/config]'
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
        &'weftctl;config;help;help'= {
        }
        &'weftctl;cluster'= {
            cand -n 'Target nodes, comma-separated (host or host:port, default port 50000); dialed directly'
            cand --nodes 'Target nodes, comma-separated (host or host:port, default port 50000); dialed directly'
            cand -e 'Endpoints to use when no nodes are given, comma-separated'
            cand --endpoints 'Endpoints to use when no nodes are given, comma-separated'
            cand --context 'Context to use instead of the client config''s current one'
            cand --weftconfig 'Client config file [default: ~/.weft/config]'
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
            cand --workers 'Number of worker nodes besides the control-plane node (as talosctl''s `--workers`); the global `--nodes N` sets the total number of nodes instead'
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
            cand -n 'Target nodes, comma-separated (host or host:port, default port 50000); dialed directly'
            cand --nodes 'Target nodes, comma-separated (host or host:port, default port 50000); dialed directly'
            cand -e 'Endpoints to use when no nodes are given, comma-separated'
            cand --endpoints 'Endpoints to use when no nodes are given, comma-separated'
            cand --context 'Context to use instead of the client config''s current one'
            cand --weftconfig 'Client config file [default: ~/.weft/config]'
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
            cand -n 'Target nodes, comma-separated (host or host:port, default port 50000); dialed directly'
            cand --nodes 'Target nodes, comma-separated (host or host:port, default port 50000); dialed directly'
            cand -e 'Endpoints to use when no nodes are given, comma-separated'
            cand --endpoints 'Endpoints to use when no nodes are given, comma-separated'
            cand --context 'Context to use instead of the client config''s current one'
            cand --weftconfig 'Client config file [default: ~/.weft/config]'
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
            cand -n 'Target nodes, comma-separated (host or host:port, default port 50000); dialed directly'
            cand --nodes 'Target nodes, comma-separated (host or host:port, default port 50000); dialed directly'
            cand -e 'Endpoints to use when no nodes are given, comma-separated'
            cand --endpoints 'Endpoints to use when no nodes are given, comma-separated'
            cand --context 'Context to use instead of the client config''s current one'
            cand --weftconfig 'Client config file [default: ~/.weft/config]'
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
            cand -n 'Target nodes, comma-separated (host or host:port, default port 50000); dialed directly'
            cand --nodes 'Target nodes, comma-separated (host or host:port, default port 50000); dialed directly'
            cand -e 'Endpoints to use when no nodes are given, comma-separated'
            cand --endpoints 'Endpoints to use when no nodes are given, comma-separated'
            cand --context 'Context to use instead of the client config''s current one'
            cand --weftconfig 'Client config file [default: ~/.weft/config]'
            cand --timeout 'Connection and request timeout'
            cand --matrix 'Print the node × node grid of peer states instead of the checks'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'weftctl;leave'= {
            cand -n 'Target nodes, comma-separated (host or host:port, default port 50000); dialed directly'
            cand --nodes 'Target nodes, comma-separated (host or host:port, default port 50000); dialed directly'
            cand -e 'Endpoints to use when no nodes are given, comma-separated'
            cand --endpoints 'Endpoints to use when no nodes are given, comma-separated'
            cand --context 'Context to use instead of the client config''s current one'
            cand --weftconfig 'Client config file [default: ~/.weft/config]'
            cand --timeout 'Connection and request timeout'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'weftctl;external-peer'= {
            cand -n 'Target nodes, comma-separated (host or host:port, default port 50000); dialed directly'
            cand --nodes 'Target nodes, comma-separated (host or host:port, default port 50000); dialed directly'
            cand -e 'Endpoints to use when no nodes are given, comma-separated'
            cand --endpoints 'Endpoints to use when no nodes are given, comma-separated'
            cand --context 'Context to use instead of the client config''s current one'
            cand --weftconfig 'Client config file [default: ~/.weft/config]'
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
            cand -n 'Target nodes, comma-separated (host or host:port, default port 50000); dialed directly'
            cand --nodes 'Target nodes, comma-separated (host or host:port, default port 50000); dialed directly'
            cand -e 'Endpoints to use when no nodes are given, comma-separated'
            cand --endpoints 'Endpoints to use when no nodes are given, comma-separated'
            cand --context 'Context to use instead of the client config''s current one'
            cand --weftconfig 'Client config file [default: ~/.weft/config]'
            cand --timeout 'Connection and request timeout'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'weftctl;external-peer;remove'= {
            cand -n 'Target nodes, comma-separated (host or host:port, default port 50000); dialed directly'
            cand --nodes 'Target nodes, comma-separated (host or host:port, default port 50000); dialed directly'
            cand -e 'Endpoints to use when no nodes are given, comma-separated'
            cand --endpoints 'Endpoints to use when no nodes are given, comma-separated'
            cand --context 'Context to use instead of the client config''s current one'
            cand --weftconfig 'Client config file [default: ~/.weft/config]'
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
        }
        &'weftctl;help;config;new'= {
        }
        &'weftctl;help;config;contexts'= {
        }
        &'weftctl;help;config;use-context'= {
        }
        &'weftctl;help;config;merge'= {
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
