package embedded

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"
)

// LoadOrCreateKey returns the token key kept in the file at path,
// creating the file (mode 0600, with a new random key) when it does not
// exist, so that tokens survive restarts of an all-in-one cloud. A file
// that does not hold a valid key is an error.
func LoadOrCreateKey(path string) (string, error) {
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		k := strings.TrimSpace(string(b))
		if _, err := decodeKey(k); err != nil {
			return "", fmt.Errorf("embedded: key file %s: %w", path, err)
		}
		return k, nil
	case !errors.Is(err, os.ErrNotExist):
		return "", fmt.Errorf("embedded: key file: %w", err)
	}
	k := NewKey()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", fmt.Errorf("embedded: key file: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, os.ErrExist) { // created meanwhile by another process
			return LoadOrCreateKey(path)
		}
		return "", fmt.Errorf("embedded: key file: %w", err)
	}
	_, err = f.WriteString(k + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(path)
		return "", fmt.Errorf("embedded: key file: %w", err)
	}
	return k, nil
}

// Cloud is one entry of a clouds.yaml: a user and project of the
// Default domain, password authentication.
type Cloud struct {
	Name, Username, Password, ProjectName string
}

// CloudsYAML renders a clouds.yaml for keystoneauth/openstacksdk (the
// openstack CLI's --os-cloud NAME) with password authentication against
// authURL (the identity endpoint, e.g. http://127.0.0.1:5000/v3), users
// and projects in the Default domain, region (default RegionOne) and the
// public interface.
func CloudsYAML(authURL, region string, clouds ...Cloud) ([]byte, error) {
	if region == "" {
		region = DefaultRegion
	}
	type auth struct {
		AuthURL           string `yaml:"auth_url"`
		Username          string `yaml:"username"`
		Password          string `yaml:"password"`
		ProjectName       string `yaml:"project_name"`
		UserDomainName    string `yaml:"user_domain_name"`
		ProjectDomainName string `yaml:"project_domain_name"`
	}
	type cloud struct {
		Auth               auth   `yaml:"auth"`
		RegionName         string `yaml:"region_name"`
		Interface          string `yaml:"interface"`
		IdentityAPIVersion int    `yaml:"identity_api_version"`
	}
	out := map[string]map[string]cloud{"clouds": {}}
	for _, c := range clouds {
		if c.Name == "" || c.Username == "" {
			return nil, errors.New("embedded: clouds.yaml: every cloud needs a name and a username")
		}
		out["clouds"][c.Name] = cloud{Auth: auth{AuthURL: authURL, Username: c.Username, Password: c.Password,
			ProjectName: c.ProjectName, UserDomainName: DefaultDomainName, ProjectDomainName: DefaultDomainName},
			RegionName: region, Interface: "public", IdentityAPIVersion: 3}
	}
	b, err := yaml.Marshal(out)
	if err != nil {
		return nil, fmt.Errorf("embedded: clouds.yaml: %w", err)
	}
	return b, nil
}
