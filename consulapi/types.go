package consulapi

// Consul's JSON shapes, with Consul's field names. Only the fields Murmur
// can fill honestly are set; the rest keep Consul's zero values so
// clients that decode into github.com/hashicorp/consul/api types find
// every field they expect.

type kvPair struct {
	Key         string
	CreateIndex uint64
	ModifyIndex uint64
	LockIndex   uint64
	Flags       uint64
	Value       []byte // base64 in JSON, as Consul
	Session     string `json:",omitempty"`
}

type node struct {
	ID              string
	Node            string
	Address         string
	Datacenter      string
	TaggedAddresses map[string]string
	Meta            map[string]string
	CreateIndex     uint64
	ModifyIndex     uint64
}

type weights struct {
	Passing int
	Warning int
}

type agentService struct {
	ID                string
	Service           string
	Tags              []string
	Meta              map[string]string
	Port              int
	Address           string
	Weights           weights
	EnableTagOverride bool
	Datacenter        string `json:",omitempty"`
}

type healthCheck struct {
	Node        string
	CheckID     string
	Name        string
	Status      string
	Notes       string
	Output      string
	ServiceID   string
	ServiceName string
	ServiceTags []string
	Type        string
	Definition  struct{}
	CreateIndex uint64
	ModifyIndex uint64
}

type serviceEntry struct {
	Node    node
	Service agentService
	Checks  []healthCheck
}

type catalogService struct {
	ID                       string
	Node                     string
	Address                  string
	Datacenter               string
	TaggedAddresses          map[string]string
	NodeMeta                 map[string]string
	ServiceID                string
	ServiceName              string
	ServiceAddress           string
	ServiceTags              []string
	ServiceMeta              map[string]string
	ServicePort              int
	ServiceWeights           weights
	ServiceEnableTagOverride bool
	CreateIndex              uint64
	ModifyIndex              uint64
}

type catalogNode struct {
	Node     node
	Services map[string]agentService
}

type agentMember struct {
	Name        string
	Addr        string
	Port        uint16
	Tags        map[string]string
	Status      int
	ProtocolMin uint8
	ProtocolMax uint8
	ProtocolCur uint8
	DelegateMin uint8
	DelegateMax uint8
	DelegateCur uint8
}

// Serf's member status numbers, which /v1/agent/members reports.
const (
	serfAlive  = 1
	serfLeft   = 3
	serfFailed = 4
)

type coordinateEntry struct {
	Node    string
	Segment string
	Coord   coord
}

type coord struct {
	Vec        []float64
	Error      float64
	Adjustment float64
	Height     float64
}

// registration is the body of PUT /v1/agent/service/register. Fields
// Murmur cannot honour are decoded so that a request using them is
// refused by name instead of having them silently dropped; cosmetic ones
// (Weights, EnableTagOverride, TaggedAddresses) are accepted and ignored.
type registration struct {
	Kind              string
	ID                string
	Name              string
	Tags              []string
	Port              int
	Ports             rawField
	Address           string
	SocketPath        string
	TaggedAddresses   rawField
	EnableTagOverride bool
	Meta              map[string]string
	Weights           rawField
	Check             *checkDef
	Checks            []*checkDef
	Proxy             rawField
	Connect           rawField
	AI                rawField
	Namespace         string
	Partition         string
	Locality          rawField
}

// checkDef is Consul's AgentServiceCheck.
type checkDef struct {
	CheckID                        string
	Name                           string
	ScriptArgs                     []string
	DockerContainerID              string
	Shell                          string
	Interval                       string
	Timeout                        string
	TTL                            string
	HTTP                           string
	Header                         rawField
	Method                         string
	Body                           string
	TCP                            string
	TCPUseTLS                      bool
	UDP                            string
	Status                         string
	Notes                          string
	TLSServerName                  string
	TLSSkipVerify                  bool
	GRPC                           string
	GRPCUseTLS                     bool
	H2PING                         string
	H2PingUseTLS                   bool
	AliasNode                      string
	AliasService                   string
	SuccessBeforePassing           int
	FailuresBeforeWarning          int
	FailuresBeforeCritical         int
	DeregisterCriticalServiceAfter string
	// Consul's agent also accepts these in a check definition.
	Args         []string
	ServiceID    string
	CheckIDAlias string `json:"ID"`
}

// checkUpdate is the body of PUT /v1/agent/check/update/{id}.
type checkUpdate struct {
	Status string
	Output string
}
