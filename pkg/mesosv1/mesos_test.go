package mesosv1

import "testing"

func TestContainerInfoRedacted(t *testing.T) {
	ci := &ContainerInfo{Type: "MESOS", Mesos: &MesosInfo{Image: &Image{Type: "DOCKER",
		Docker: &DockerImage{Name: "x", Credential: &Credential{Principal: "u", Secret: "s3cret"}}}}}
	r := ci.Redacted()
	if r.Mesos.Image.Docker.Credential.Secret != "" || r.Mesos.Image.Docker.Credential.Principal != "u" {
		t.Errorf("redacted credential %+v", r.Mesos.Image.Docker.Credential)
	}
	if ci.Mesos.Image.Docker.Credential.Secret != "s3cret" {
		t.Error("Redacted changed its receiver")
	}
	if (*ContainerInfo)(nil).Redacted() != nil {
		t.Error("nil not kept")
	}
}
