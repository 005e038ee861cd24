// The user-assigned managed identity the function app runs as: every connection
// (storage, Service Bus, Cosmos DB, SignalR, Application Insights) authenticates with it.
param name string
param location string
param tags object

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: name
  location: location
  tags: tags
}

output id string = identity.id
output name string = identity.name
output principalId string = identity.properties.principalId
output clientId string = identity.properties.clientId
